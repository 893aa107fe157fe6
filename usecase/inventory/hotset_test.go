package inventory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gintoki/gintoki/domain"
)

func TestHotHitAllocatesNothing(t *testing.T) {
	s, _, _ := newTestService(t, seeded(1), testConfig())
	ctx := context.Background()
	for i := 0; i < 2; i++ { // fill, then a store hit that offers the answer
		if _, err := s.GetProductInventory(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if s.hot.len() != 1 {
		t.Fatalf("hot set holds %d answers, want 1", s.hot.len())
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.GetProductInventory(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("hot hit allocates %v times", allocs)
	}
}

func TestHotAnswerDroppedByEventsWarehousesAndFlush(t *testing.T) {
	s, _, _ := newTestService(t, seeded(1), testConfig())
	ctx := context.Background()
	read := func() string {
		inv, err := s.GetProductInventory(ctx, 1)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(inv.Warehouses)
	}
	read()
	read()
	s.ApplyStock(stockChange('u', 1, 2, 70, 2))
	if got := read(); got != "[{WH-A 70} {WH-B 11}]" {
		t.Fatalf("after event: %s", got)
	}
	read()
	s.ApplyWarehouse(domain.WarehouseChange{Op: 'u', Row: domain.Warehouse{ID: 1, Code: "WH-Q", Active: true, Version: 5}})
	if got := read(); got != "[{WH-A 70} {WH-Q 11}]" {
		t.Fatalf("after rename: %s", got)
	}
	read()
	s.Flush()
	if s.hot.len() != 0 {
		t.Fatal("flush kept hot answers")
	}
}

// An answer read from the store before a write must not be kept after it:
// offers race invalidations on purpose, many times.
func TestHotOfferNeverOutlivesAConcurrentWrite(t *testing.T) {
	h := newHotSet(1024)
	for round := 0; round < 2000; round++ {
		id := int64(round % 50)
		var stale atomic.Bool
		var wg sync.WaitGroup
		seq := h.begin(id) // the reader read "old" after this
		wg.Add(2)
		go func() { defer wg.Done(); h.invalidate(id); h.invalidate(id) }() // a write
		go func() {
			defer wg.Done()
			h.offer(id, seq, &hotAnswer{inv: domain.ProductInventory{ProductID: -1}, expires: 1 << 62})
		}()
		wg.Wait()
		if inv, ok := h.get(id, 0, 0); ok && inv.ProductID == -1 {
			stale.Store(true)
		}
		if stale.Load() {
			t.Fatalf("round %d: an answer offered across a write survived it", round)
		}
	}
}

func TestHotSetIsBounded(t *testing.T) {
	h := newHotSet(hotShards * 2)
	for id := int64(0); id < 10000; id++ {
		h.offer(id, h.begin(id), &hotAnswer{expires: 1 << 62})
	}
	if n := h.len(); n > hotShards*2 {
		t.Fatalf("%d answers held, cap %d", n, hotShards*2)
	}
}

func BenchmarkGetHot(b *testing.B) {
	repo := seeded(1000)
	cfg := testConfig()
	s := newService(cfg, repo, newFakeStore(), nil, nil)
	_ = s.LoadDirectory(context.Background())
	ctx := context.Background()
	for id := int64(1); id <= 1000; id++ {
		_, _ = s.GetProductInventory(ctx, id)
		_, _ = s.GetProductInventory(ctx, id)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := int64(0)
		for pb.Next() {
			id = id%1000 + 1
			if _, err := s.GetProductInventory(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
