package readmod

import (
	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// ProviderSet builds the read path: cache store, metrics and service.
var ProviderSet = wire.NewSet(
	serviceConfig,
	newStore,
	entryStore,
	telemetry.NewReadPathMetrics,
	wire.Bind(new(inventory.Metrics), new(*telemetry.ReadPathMetrics)),
	inventory.New,
)

func serviceConfig(c config.Cache, d config.DB, sc config.Schema) inventory.Config {
	return inventory.Config{
		CacheEnabled:       c.Enabled,
		Bootstrap:          c.FromTopics(),
		TTL:                c.TTL,
		TTLJitter:          c.TTLJitter,
		MarkerTTL:          c.MarkerTTL,
		StaleIfError:       c.StaleIfError,
		ReadAfterWait:      c.ReadAfterWait,
		StockOrder:         sc.Mapping.StockOrder(),
		WarehouseOrder:     sc.Mapping.WarehouseOrder(),
		ImplicitWarehouses: sc.Mapping.Warehouses == nil,
		DBMaxInFlight:      d.MaxInFlight,
		DBQueueTimeout:     d.QueueTimeout,
		DBQueryTimeout:     d.Timeout,
	}
}

// newStore opens the bigcache store, or returns nil with --cache=false.
func newStore(c config.Cache, reg prometheus.Registerer) (*bigcachestore.Store, func(), error) {
	if !c.Enabled {
		return nil, func() {}, nil
	}
	// bigcache's own life window only reclaims memory; entries carry their
	// jittered expiry and are checked on read, and may still answer for
	// --stale-if-error after it.
	s, err := bigcachestore.New(bigcachestore.Config{SizeMB: c.SizeMB, LifeWindow: c.TTL + c.StaleIfError})
	if err != nil {
		return nil, nil, err
	}
	if err := registerStoreMetrics(reg, s); err != nil {
		_ = s.Close()
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

// entryStore hides a nil *Store behind a nil interface, not a typed nil.
func entryStore(s *bigcachestore.Store) inventory.EntryStore {
	if s == nil {
		return nil
	}
	return s
}

func registerStoreMetrics(reg prometheus.Registerer, s *bigcachestore.Store) error {
	for _, m := range []struct {
		name, help string
		counter    bool
		f          func() float64
	}{
		{"gintoki_cache_entries", "Entries held in the cache (positive and negative).", false, func() float64 { return float64(s.Stats().Entries) }},
		{"gintoki_cache_bytes", "Bytes reserved by the cache's shards.", false, func() float64 { return float64(s.Stats().CapacityBytes) }},
		{"gintoki_cache_evictions_total", "Entries dropped because the cache was full.", true, func() float64 { return float64(s.Stats().Evictions) }},
		{"gintoki_cache_expired_total", "Entries dropped by the cache's clean-up after their life window.", true, func() float64 { return float64(s.Stats().Expired) }},
		{"gintoki_cache_corrupt_total", "Entries that failed to decode and were dropped.", true, func() float64 { return float64(s.Stats().Corrupt) }},
	} {
		var err error
		if m.counter {
			err = telemetry.CounterFunc(reg, m.name, m.help, m.f)
		} else {
			err = telemetry.GaugeFunc(reg, m.name, m.help, m.f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
