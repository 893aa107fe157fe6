package telemetry

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gintoki/gintoki/infrastructure/buildinfo"
)

// NewRegistry returns a registry with the Go and process collectors. The Go
// collector also exports the runtime's CPU classes, so the GC's share of CPU
// (go_cpu_classes_gc_total_cpu_seconds_total against
// process_cpu_seconds_total) can be watched under load. It also carries
// gintoki_build_info.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/(gc/total|total):cpu-seconds$`)},
		)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(buildinfo.Get()),
	)
	return r
}

// ReadPathMetrics implements the read path's Metrics port with Prometheus.
type ReadPathMetrics struct {
	hits, misses, coalesced, rejected prometheus.Counter
	corrected, staleServed            prometheus.Counter
	readAfter                         *prometheus.CounterVec
	readAfterWait                     prometheus.Observer
	dbOK, dbErr                       prometheus.Observer
	dbErrors                          prometheus.Counter
}

// NewReadPathMetrics registers the read-path metrics on reg.
func NewReadPathMetrics(reg prometheus.Registerer) (*ReadPathMetrics, error) {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gintoki_cache_lookups_total", Help: "Cache lookups by result (hit or miss).",
	}, []string{"result"})
	coalesced := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gintoki_cache_coalesced_misses_total", Help: "Misses served by another caller's fill instead of a query of their own.",
	})
	dbDur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gintoki_db_query_duration_seconds", Help: "Read-path database query latency by outcome.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"outcome"})
	dbErrors := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gintoki_db_errors_total", Help: "Read-path database queries that failed.",
	})
	rejected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gintoki_db_rejected_total", Help: "Reads refused because every database slot stayed busy (fail fast).",
	})
	corrected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gintoki_cache_stale_fills_corrected_total", Help: "Fills that read rows older than change events already handled and were corrected from the feed's markers.",
	})
	staleServed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gintoki_cache_stale_served_total", Help: "Products answered from the cache marked possibly stale, because the database could not answer while the change feed could not be trusted or the entry had expired (--stale-if-error).",
	})
	readAfter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gintoki_read_after_total", Help: "Reads bounded by a read-after GTID, by outcome: cache (proven at once), waited (the cache, once the change feed had applied it), database, unavailable.",
	}, []string{"outcome"})
	readAfterWait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gintoki_read_after_wait_seconds", Help: "How long reads bounded by a read-after GTID waited for the change feed to apply it, when that was enough.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	for _, c := range []prometheus.Collector{lookups, coalesced, dbDur, dbErrors, rejected, corrected, staleServed, readAfter, readAfterWait} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &ReadPathMetrics{
		hits: lookups.WithLabelValues("hit"), misses: lookups.WithLabelValues("miss"),
		coalesced: coalesced, rejected: rejected, corrected: corrected, staleServed: staleServed,
		readAfter: readAfter, readAfterWait: readAfterWait,
		dbOK: dbDur.WithLabelValues("ok"), dbErr: dbDur.WithLabelValues("error"), dbErrors: dbErrors,
	}, nil
}

func (m *ReadPathMetrics) CacheHit()   { m.hits.Inc() }
func (m *ReadPathMetrics) CacheMiss()  { m.misses.Inc() }
func (m *ReadPathMetrics) Coalesced()  { m.coalesced.Inc() }
func (m *ReadPathMetrics) DBRejected() { m.rejected.Inc() }

// StaleFillCorrected implements the read path's Metrics.
func (m *ReadPathMetrics) StaleFillCorrected() { m.corrected.Inc() }

// StaleServed implements the read path's Metrics.
func (m *ReadPathMetrics) StaleServed() { m.staleServed.Inc() }

// ReadAfter implements the read path's Metrics.
func (m *ReadPathMetrics) ReadAfter(outcome string, waited time.Duration) {
	m.readAfter.WithLabelValues(outcome).Inc()
	if outcome == "waited" {
		m.readAfterWait.Observe(waited.Seconds())
	}
}
func (m *ReadPathMetrics) DBQuery(d time.Duration, err error) {
	if err != nil {
		m.dbErr.Observe(d.Seconds())
		m.dbErrors.Inc()
		return
	}
	m.dbOK.Observe(d.Seconds())
}

// GaugeFunc registers a gauge whose value is read at scrape time.
func GaugeFunc(reg prometheus.Registerer, name, help string, f func() float64) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter whose value is read at scrape time.
func CounterFunc(reg prometheus.Registerer, name, help string, f func() float64) error {
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// InspectorMetrics counts the consistency inspector's work.
type InspectorMetrics struct {
	Checked prometheus.Counter
	// Stale is by direction: "behind" or "ahead" of the database.
	Stale *prometheus.CounterVec
}

// NewInspectorMetrics registers the inspector's counters on reg.
func NewInspectorMetrics(reg prometheus.Registerer) (*InspectorMetrics, error) {
	m := &InspectorMetrics{
		Checked: prometheus.NewCounter(prometheus.CounterOpts{Name: "gintoki_inspector_checked_total", Help: "Cached products the consistency inspector compared with the database."}),
		Stale: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gintoki_inspector_stale_total",
			Help: "Cached products found behind or ahead of the database beyond the lag window, and evicted."}, []string{"direction"}),
	}
	for _, d := range []string{"behind", "ahead"} {
		m.Stale.WithLabelValues(d) // both series exist from the start, at 0
	}
	for _, c := range []prometheus.Collector{m.Checked, m.Stale} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Register registers c on reg, or returns the collector of the same
// description already registered there (a second consumer, server or
// middleware in one process shares the first one's series).
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}
