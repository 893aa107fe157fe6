package relaymod

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// versionKey names one committed update.
type versionKey struct {
	product int64
	version uint64
}

// timedApplier records when each stock update became visible in the
// read node's cache: when the service finished applying it.
type timedApplier struct {
	*inventory.Changes
	mu      sync.Mutex
	applied map[versionKey]time.Time
}

func (a *timedApplier) ApplyStock(c domain.StockChange) inventory.Outcome {
	out := a.Changes.ApplyStock(c)
	now := time.Now()
	a.mu.Lock()
	k := versionKey{c.Row.ProductID, c.Row.Version}
	if _, ok := a.applied[k]; !ok {
		a.applied[k] = now
	}
	a.mu.Unlock()
	return out
}

func (a *timedApplier) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.applied)
}

// TestCommitToVisibleThroughARealPipeline: MariaDB -> binlog -> relay ->
// Kafka -> a read node's consumer -> its cache. 10,000 updates are
// committed while the read node consumes; each one's commit-to-visible
// time (the UPDATE returned to its client -> the cached product shows the
// new row) is logged as p50/p99. Nothing here asserts on time.
func TestCommitToVisibleThroughARealPipeline(t *testing.T) {
	t.Parallel()
	const (
		products = 500
		updates  = 10_000
		writers  = 16
	)
	h := newHarness(t, 3)
	h.exec("INSERT INTO warehouses VALUES (1,'W1','North',1,1,'" + t1 + "')")
	for p := 1; p <= products; p += 100 {
		stmt := "INSERT INTO stock_items VALUES "
		for q := p; q < p+100; q++ {
			if q > p {
				stmt += ","
			}
			stmt += fmt.Sprintf("(%d,1,0,0,'%s')", q, t1)
		}
		h.exec(stmt)
	}
	cfg := h.cfg
	cfg.Snapshot = "never"
	startRelay(t, cfg)

	var applier *timedApplier
	node := startReadNode(t, h, nil, func(svc *inventory.Changes) kafkaconsumer.Applier {
		applier = &timedApplier{Changes: svc, applied: map[versionKey]time.Time{}}
		return applier
	})
	svc, ctx := node.svc, context.Background()
	// Every product cached, so each event patches an entry in place.
	for p := int64(1); p <= products; p++ {
		if _, err := svc.GetProductInventory(ctx, p); err != nil {
			t.Fatalf("warm product %d: %v", p, err)
		}
	}

	committed := make(map[versionKey]time.Time, updates)
	var mu sync.Mutex
	var next atomic.Uint64
	var wg sync.WaitGroup
	writeErr := make(chan error, writers)
	began := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v := next.Add(1)
				if v > updates {
					return
				}
				p := int64(v%products) + 1
				if _, err := h.db.Exec("UPDATE stock_items SET qty_salable=?, version=? WHERE product_id=? AND warehouse_id=1", v%1000, v, p); err != nil {
					writeErr <- err
					return
				}
				at := time.Now()
				mu.Lock()
				committed[versionKey{p, v}] = at
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wrote := time.Since(began)
	close(writeErr)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every update applied", func() bool { return applier.count() >= updates }, nil)

	lat := make([]time.Duration, 0, updates)
	applier.mu.Lock()
	for k, c := range committed {
		a, ok := applier.applied[k]
		if !ok {
			t.Errorf("update %v never applied", k)
			continue
		}
		lat = append(lat, max(0, a.Sub(c)))
	}
	applier.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("commit-to-visible over %d updates (%d writers, %.0f commits/s): p50 %s  p90 %s  p99 %s  max %s",
		len(lat), writers, float64(updates)/wrote.Seconds(), pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1])

	// Visible means what a reader gets: the newest version of a product.
	last := int64(updates)
	p := last%products + 1
	inv, err := svc.GetProductInventory(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Warehouses) != 1 || inv.Warehouses[0].QtySalable != int32(last%1000) {
		t.Errorf("product %d reads %+v, want qty %d", p, inv, last%1000)
	}
}
