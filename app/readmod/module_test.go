package readmod

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/polltest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// countingRepo is a database a node starting from the change topics must
// not read: it counts what it is asked (pings are not reads: readiness
// probes them).
type countingRepo struct{ reads atomic.Int64 }

func (r *countingRepo) StockByProducts(context.Context, []int64) ([]domain.StockWithWarehouse, error) {
	r.reads.Add(1)
	return nil, nil
}

func (r *countingRepo) Warehouses(context.Context) ([]domain.Warehouse, error) {
	r.reads.Add(1)
	return nil, nil
}

func (r *countingRepo) Position(context.Context) (domain.SourcePos, error) {
	r.reads.Add(1)
	return nil, nil
}

func (r *countingRepo) Ping(context.Context) error { return nil }

// topicNode is the read path and background jobs of a node started with
// --cache-bootstrap=topic, built as provideReadPath builds them, over repo;
// its mapping is checked by check, mappingDelay after it is ready.
type topicNode struct {
	rp      *inventory.ReadPath
	jobs    *backgroundJobs
	checker *readiness.Checker
	logs    *logtest.Buffer
}

func newTopicNode(t *testing.T, repo inventory.StockRepository, check func(context.Context) error) *topicNode {
	t.Helper()
	cache := config.Cache{Enabled: true, SizeMB: 8, TTL: time.Hour, StaleIfError: 10 * time.Minute, Bootstrap: config.BootstrapTopic}
	store, closeStore, err := newStore(cache, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := config.DB{MaxInFlight: 4, QueueTimeout: time.Second, Timeout: time.Second}
	rp := inventory.New(serviceConfig(cache, db, config.DefaultSchema()), repo, entryStore(store), nil, log)
	jobs := newBackgroundJobs(rp.Upkeep, log, cache, nil)
	jobs.checkMapping = check
	jobs.mappingDelay = 200 * time.Millisecond
	feedLive := func() error { return nil }
	checker, err := newChecker(rp.Upkeep, cache, jobs, []readiness.Condition{feedLive}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &topicNode{rp: rp, jobs: jobs, checker: checker, logs: logs}
}

// bootstrap is the change feed of a node started from the topics: the
// tracker's first word, the topics' events, caught up.
func (n *topicNode) bootstrap() {
	n.rp.Upkeep.SetCacheUsable(false)
	n.rp.Changes.ApplyWarehouse(domain.WarehouseChange{Op: domain.OpRead, Row: domain.Warehouse{ID: 1, Code: "WH-A", Active: true, Version: 1}})
	n.rp.Changes.ApplyStock(domain.StockChange{Op: domain.OpRead, Row: domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 7, Version: 1}})
	n.rp.Upkeep.SetCacheUsable(true)
}

// A node started from the change topics reads nothing from the database
// until it is ready: its background jobs start before its change feed, and
// must find it bootstrapping already (not read the directory from the
// database); the schema mapping is checked only a while after the node
// turned ready, not as the bootstrap ends (which is when it turns ready,
// so a check then would race the probe that sees it ready).
func TestTopicStartReadsNothingUntilReady(t *testing.T) {
	repo := &countingRepo{}
	var checks atomic.Int64
	var checkedAt atomic.Pointer[time.Time]
	n := newTopicNode(t, repo, func(context.Context) error {
		now := time.Now()
		checkedAt.Store(&now)
		checks.Add(1)
		return nil
	})
	n.jobs.start()
	t.Cleanup(n.jobs.stop)
	n.bootstrap()
	polltest.Until(t, 10*time.Second, "the start jobs through", n.jobs.prewarmed.Load)
	if r, c := repo.reads.Load(), checks.Load(); r != 0 || c != 0 {
		t.Fatalf("before the node was ready: %d reads and %d mapping checks, want none", r, c)
	}
	if err := n.checker.Ready(context.Background()); err != nil {
		t.Fatalf("not ready once bootstrapped: %v", err)
	}
	ready := time.Now()
	polltest.Until(t, 10*time.Second, "the mapping checked", func() bool { return checks.Load() == 1 })
	if after := checkedAt.Load().Sub(ready); after < n.jobs.mappingDelay {
		t.Fatalf("mapping checked %s after the node was ready, want at least %s", after, n.jobs.mappingDelay)
	}
	inv, err := n.rp.Reader.GetProductInventory(context.Background(), 1)
	if err != nil || len(inv.Warehouses) != 1 || inv.Warehouses[0].QtySalable != 7 {
		t.Fatalf("product 1: %v %v, want WH-A 7 from the topics", inv.Warehouses, err)
	}
	if r := repo.reads.Load(); r != 0 {
		t.Fatalf("%d reads of the database, want none", r)
	}
}

// The mapping check waits out a database that cannot be reached, and a
// mapping that does not fit the database is an error in the log: the node
// goes on answering from the cache the topics built.
func TestTopicStartMappingCheckRetriesThenLogsAMismatch(t *testing.T) {
	var calls atomic.Int64
	n := newTopicNode(t, &countingRepo{}, func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			return errors.New("dial tcp: connection refused")
		}
		return gormrepo.CheckMapping(ctx, nil, domain.Mapping{}) // fails before it asks the database
	})
	n.jobs.start()
	t.Cleanup(n.jobs.stop)
	n.bootstrap()
	if err := n.checker.Ready(context.Background()); err != nil {
		t.Fatalf("not ready once bootstrapped: %v", err)
	}
	polltest.Until(t, 10*time.Second, "the mismatch logged", func() bool {
		return strings.Contains(n.logs.String(), "level=ERROR msg=\"schema mapping does not fit the database")
	})
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d mapping checks, want 2 (one retry after the database could not be reached)", c)
	}
	if _, err := n.rp.Reader.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatalf("after the mismatch product 1 is not answered: %v", err)
	}
}
