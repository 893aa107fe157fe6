package relaymod

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// readNode is a read node as serve wires it (cache, consumer, tracker),
// consuming what the relay publishes for h's database.
type readNode struct {
	svc     *inventory.Reader
	tracker *changefeed.Tracker
}

// startReadNode starts the node and waits until it is live. wrap, when not
// nil, stands between the consumer and the service (to record what is
// applied).
func startReadNode(t *testing.T, h *harness, metrics inventory.Metrics, wrap func(*inventory.Changes) kafkaconsumer.Applier) *readNode {
	t.Helper()
	store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64, LifeWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if metrics == nil {
		metrics = inventory.NopMetrics{}
	}
	rp := inventory.New(inventory.Config{
		CacheEnabled: true, TTL: time.Hour, MarkerTTL: time.Minute,
		DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: 5 * time.Second,
	}, gormrepo.New(h.gdb, nil), store, metrics, testLogger(t))
	ctx := context.Background()
	if err := rp.Upkeep.LoadDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	var applier kafkaconsumer.Applier = rp.Changes
	if wrap != nil {
		applier = wrap(rp.Changes)
	}
	tracker := changefeed.NewTracker(rp.Upkeep, time.Minute, testLogger(t))
	consumer, err := kafkaconsumer.New(kafkaconsumer.Config{
		Brokers: h.broker.Addrs(), Group: "node-" + h.dsn.Database,
		StockTopic: h.topic("stock_items"), WarehouseTopic: h.topic("warehouses"),
	}, applier, tracker, kafkaconsumer.Options{Logger: testLogger(t), PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := consumer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Stop(context.Background()) })
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	waitFor(t, "read node live", func() bool {
		select {
		case <-tick.C:
			tracker.Tick()
		default:
		}
		return tracker.Ready() == nil
	}, nil)
	return &readNode{svc: rp.Reader, tracker: tracker}
}
