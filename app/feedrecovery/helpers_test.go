package feedrecovery

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/pace"
)

// ids are the products seeded, 1..products.
var ids = func() []int64 {
	out := make([]int64, products)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}()

const (
	products   = 200
	warehouses = 3
	partitions = 3
	// writeEvery paces the writer: 40 row updates a second.
	writeEvery = 25 * time.Millisecond
	// shortStaleness is the bound of the tests about staleness; the tests
	// about gaps use the default (30s), so that only a gap can save them.
	shortStaleness = 3 * time.Second
	// settleLimit bounds waits for what takes seconds; none is a claim.
	settleLimit = 90 * time.Second
)

// feed is one test's pipeline, with the writer changing MariaDB under it.
type feed struct {
	*rig.Pipeline
	t      *testing.T
	writer *writer
}

// newFeed seeds a database of the test's own and prepares the pipeline; the
// relay and the nodes are started by the test. nodeArgs are each node's own
// flags, one list per node.
func newFeed(t *testing.T, prefix string, nodeArgs ...[]string) *feed {
	t.Helper()
	if testing.Short() {
		t.Skip("the feed recovery tests run the whole pipeline")
	}
	dsn, gdb := dbtest.MySQLDSN(t)
	seed, err := database.Seed(context.Background(), gdb, products, warehouses)
	if err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: prefix, Nodes: len(nodeArgs), Partitions: partitions})
	for i, args := range nodeArgs {
		p.Nodes[i].Args = args
	}
	f := &feed{Pipeline: p, t: t}
	f.writer = newWriter(t, dsn, seed.Version)
	return f
}

// startNode starts n and waits until it is ready: its feed live once.
func (f *feed) startNode(n *rig.Node) {
	f.t.Helper()
	f.StartNode(n)
	n.Child.WaitUntil(f.t, n.Name+" ready", settleLimit, func() bool { return f.OK(n.Base() + "/readyz") })
}

// metric is a gauge of n; -1 when n does not say.
func (f *feed) metric(n *rig.Node, name string) float64 {
	v, ok := apptest.Metric(f.Metrics(n.Base()), name)
	if !ok {
		return -1
	}
	return v
}

// waitState waits until n's feed is in state (gintoki_cdc_state) with its
// cache bypassed or in use to match, and returns when it saw that.
func (f *feed) waitState(n *rig.Node, state float64, limit time.Duration) time.Time {
	f.t.Helper()
	bypassed := 0.0
	if state == stale {
		bypassed = 1
	}
	n.Child.WaitUntil(f.t, fmt.Sprintf("%s in feed state %v", n.Name, state), limit, func() bool {
		text := f.Metrics(n.Base())
		s, ok1 := apptest.Metric(text, "gintoki_cdc_state")
		b, ok2 := apptest.Metric(text, "gintoki_cache_bypassed")
		return ok1 && ok2 && s == state && b == bypassed
	})
	return time.Now()
}

// The feed states as gintoki_cdc_state reports them.
const (
	live  = 2
	stale = 3
)

// warm reads every product from n, so its cache holds them all: a cache
// that then misses a change answers wrong, which the final comparison sees.
func (f *feed) warm(n *rig.Node) {
	f.t.Helper()
	diffs, err := f.Differences(context.Background(), n, ids)
	if err != nil || len(diffs) > 0 {
		f.t.Fatalf("warm %s: %v %q", n.Name, err, diffs)
	}
}

// equalsDB compares every product on each node with the database, the
// writer stopped and the feed drained first.
func (f *feed) equalsDB(nodes ...*rig.Node) {
	f.t.Helper()
	f.writer.stop()
	f.Drain(settleLimit)
	f.compare(nodes...)
}

// compare reads every product from each node and reports those that differ
// from the database.
func (f *feed) compare(nodes ...*rig.Node) {
	f.t.Helper()
	for _, n := range nodes {
		diffs, err := f.Differences(context.Background(), n, ids)
		if err != nil {
			f.t.Fatalf("compare %s: %v", n.Name, err)
		}
		if len(diffs) > 0 {
			f.t.Errorf("%d of %d products on %s differ from the database, e.g.:\n%s", len(diffs), products, n.Name,
				strings.Join(diffs[:min(len(diffs), 10)], "\n"))
		}
	}
	f.t.Logf("%d row writes; every product on %d node(s) compared with the database", f.writer.writes.Load(), len(nodes))
}

// warnings are the lines n logged at WARN that contain what.
func warnings(n *rig.Node, what string) []string {
	var out []string
	for _, l := range strings.Split(n.Child.Stderr(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, what) {
			out = append(out, l)
		}
	}
	return out
}

// writer updates random stock rows, each with a version above every one
// before, until stopped.
type writer struct {
	t      *testing.T
	db     *sql.DB
	next   atomic.Uint64
	writes atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newWriter(t *testing.T, dsn database.DSN, seedVersion uint64) *writer {
	db, err := sql.Open("mysql", dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	w := &writer{t: t, db: db}
	w.next.Store(seedVersion)
	t.Cleanup(w.stop)
	return w
}

func (w *writer) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go w.run(ctx)
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	pace.Every(ctx, writeEvery, func() bool {
		v := w.next.Add(1)
		p, wh := 1+rng.Int64N(products), 1+rng.Int64N(warehouses)
		if _, err := w.db.ExecContext(ctx, "UPDATE stock_items SET qty_salable = ?, version = ? WHERE product_id = ? AND warehouse_id = ?",
			int32(v%100_000), v, p, wh); err != nil {
			if ctx.Err() == nil {
				w.t.Errorf("write: %v", err)
			}
			return false
		}
		w.writes.Add(1)
		return true
	})
}

// stop ends the writing and waits for the last write; safe to repeat.
func (w *writer) stop() {
	w.once.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
	})
}
