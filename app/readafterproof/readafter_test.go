package readafterproof

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

const (
	// drainLimit bounds waits for the pipeline; no test measures against it.
	drainLimit = 2 * time.Minute
	products   = 50
	// liveWrites is how many writes are read back while the relay runs,
	// stoppedWrites while it is stopped.
	liveWrites    = 200
	stoppedWrites = 10
)

// TestReadYourWritesFromTheFeed: a client commits a write, takes its GTID
// (SELECT @@last_gtid) and reads the product with it (X-Read-After-GTID).
// With the relay running, the relay's heartbeats say how far it has
// published, the node proves its cache has applied the write shortly after
// the commit, and most reads answer from the cache (at once, or after
// waiting for the feed) rather than the database. With the relay stopped
// (SIGSTOP) nothing can prove it, and every read goes to the database.
// Every answer reflects the write. The ratio and the latency from commit to
// answer are logged.
func TestReadYourWritesFromTheFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the relay and a read node as processes")
	}
	dsn, gdb := dbtest.MySQLDSN(t)
	if _, err := database.Seed(t.Context(), gdb, products, 3); err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: "raf", Nodes: 1, Partitions: 3})
	n := p.Nodes[0]
	p.StartRelay()
	p.StartNode(n)
	p.Drain(drainLimit)
	n.Child.WaitUntil(t, "the node hearing the relay's positions", drainLimit, func() bool {
		v, ok := apptest.Metric(p.Metrics(n.Base()), "gintoki_cdc_source_positions")
		return ok && v == 1
	})

	// A node serving traffic has its products cached: a product it does
	// not hold is read from the database whatever the token says.
	ids := make([]int64, products)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if diffs, err := p.Differences(t.Context(), n, ids); err != nil || len(diffs) > 0 {
		t.Fatalf("before the writes: %v %v", diffs, err)
	}

	live := writeAndRead(t, p, n, 0, liveWrites)
	t.Logf("relay running: %d writes read back: %v; commit to answer from the cache: %s",
		liveWrites, live.sources, live.latencies())
	if fromFeed := live.sources["cache"] + live.sources["waited"]; fromFeed*2 < liveWrites {
		t.Errorf("only %d of %d reads after a write answered from the cache (%v): the node did not prove its feed had applied them",
			fromFeed, liveWrites, live.sources)
	}

	if err := p.Relay.Pause(); err != nil {
		t.Fatal(err)
	}
	stopped := writeAndRead(t, p, n, liveWrites, stoppedWrites)
	if err := p.Relay.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("relay stopped: %d writes read back: %v", stoppedWrites, stopped.sources)
	if stopped.sources["database"] != stoppedWrites {
		t.Errorf("relay stopped: sources %v; want every read from the database: nothing can prove the cache has the writes", stopped.sources)
	}

	// Going again, the relay publishes the writes and positions again.
	var src string
	n.Child.WaitUntil(t, "a read after a write answered from the cache again", drainLimit, func() bool {
		src = writeAndRead(t, p, n, liveWrites+stoppedWrites, 1).last
		return src != "database"
	})
}

// readBack is what the reads after writes found.
type readBack struct {
	sources map[string]int
	// fromFeed are the times from commit to answer of the reads the
	// cache answered.
	fromFeed []time.Duration
	last     string
}

func (r readBack) latencies() string {
	if len(r.fromFeed) == 0 {
		return "none"
	}
	d := slices.Clone(r.fromFeed)
	slices.Sort(d)
	q := func(f float64) time.Duration {
		return d[min(int(f*float64(len(d))), len(d)-1)].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", q(0.5), q(0.9), q(0.99), d[len(d)-1].Round(100*time.Microsecond))
}

// writeAndRead commits count writes, each to one product's stock in
// warehouse 1, and reads the product after each with the write's GTID,
// failing the test when an answer does not reflect the write.
func writeAndRead(t *testing.T, p *rig.Pipeline, n *rig.Node, from, count int) readBack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), drainLimit)
	defer cancel()
	r := readBack{sources: map[string]int{}}
	for i := from; i < from+count; i++ {
		id := int64(i%products + 1)
		gtid := dbtest.CommitGTID(t, p.DB, fmt.Sprintf(
			"UPDATE stock_items SET qty_salable = %d, version = version + 1 WHERE product_id = %d AND warehouse_id = 1", 10_000+i, id))
		committed := time.Now()
		got, src, err := p.ReadAfter(ctx, n, id, gtid)
		took := time.Since(committed)
		if err != nil {
			t.Fatalf("write %d (product %d, gtid %s): %v", i, id, gtid, err)
		}
		want, err := p.DatabaseAnswers(ctx, []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want[id].String() {
			t.Fatalf("write %d (product %d, gtid %s): answered %s from %q, the write made it %s", i, id, gtid, got, src, want[id])
		}
		r.sources[src]++
		r.last = src
		if src != "database" {
			r.fromFeed = append(r.fromFeed, took)
		}
	}
	return r
}
