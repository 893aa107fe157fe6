package inventory

import (
	"context"
	"fmt"
	"strings"
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
	h := newHotSet(1024, 1<<20)
	for round := 0; round < 2000; round++ {
		id := int64(round % 50)
		var stale atomic.Bool
		var wg sync.WaitGroup
		seq := h.begin(id) // the reader read "old" after this
		wg.Add(2)
		go func() { defer wg.Done(); h.invalidate(id); h.invalidate(id) }() // a write
		go func() {
			defer wg.Done()
			h.offer(id, seq, hotAnswer{inv: domain.ProductInventory{ProductID: -1}, expires: 1 << 62})
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
	h := newHotSet(hotShards*2, 1<<20)
	for id := int64(0); id < 10000; id++ {
		h.offer(id, h.begin(id), hotAnswer{expires: 1 << 62})
	}
	if n := h.len(); n > hotShards*2 {
		t.Fatalf("%d answers held, cap %d", n, hotShards*2)
	}
}

// answerWithLines is an answer of n warehouse lines whose codes are
// codeLen bytes long.
func answerWithLines(id int64, n, codeLen int) hotAnswer {
	lines := make([]domain.WarehouseStock, n)
	for i := range lines {
		lines[i] = domain.WarehouseStock{WarehouseCode: strings.Repeat("W", codeLen), QtySalable: int32(i)}
	}
	return hotAnswer{inv: domain.ProductInventory{ProductID: id, Warehouses: lines}, expires: 1 << 62}
}

// checkHotBytes fails when a shard's count of bytes is not the sum of its
// answers' sizes, or any shard holds more than its share of the bound.
func checkHotBytes(t *testing.T, h *hotSet, when string) {
	t.Helper()
	for i := range h.shards {
		s := &h.shards[i]
		sum := 0
		for _, a := range s.m {
			sum += hotAnswerBytes(a.inv)
		}
		if sum != s.bytes {
			t.Fatalf("%s: shard %d counts %d bytes, its answers take %d", when, i, s.bytes, sum)
		}
		if s.bytes > h.perShardBytes {
			t.Fatalf("%s: shard %d holds %d bytes, its share of the bound is %d", when, i, s.bytes, h.perShardBytes)
		}
	}
}

// Answers of very different sizes (1 to 40 warehouses), offered, replaced
// and invalidated: the estimated bytes never pass the bound, and the bound,
// not the count, is what limits the set.
func TestHotSetIsBoundedByBytes(t *testing.T) {
	const maxBytes = 256 << 10
	h := newHotSet(1<<20, maxBytes)
	for i := 0; i < 20000; i++ {
		id := int64(i % 5000) // ids come back: replacements must not count twice
		h.offer(id, h.begin(id), answerWithLines(id, 1+i%40, 4+i%9))
		if i%7 == 0 {
			h.invalidate(int64(i * 31 % 5000))
		}
		if i%1000 == 999 {
			checkHotBytes(t, h, fmt.Sprintf("after %d offers", i+1))
		}
	}
	entries, bytes := h.size()
	if bytes > maxBytes {
		t.Fatalf("hot set holds ~%d bytes, bound %d", bytes, maxBytes)
	}
	if bytes < maxBytes/2 || entries == 0 {
		t.Fatalf("hot set holds %d answers, ~%d bytes: the bound of %d should be mostly used", entries, bytes, maxBytes)
	}
	h.clear()
	if entries, bytes := h.size(); entries != 0 || bytes != 0 {
		t.Fatalf("after clear: %d answers, %d bytes", entries, bytes)
	}
}

// The estimate grows with lines and code length, so a product with many
// warehouses weighs more; one larger than a shard's share is not kept at
// all rather than emptying the shard for it.
func TestHotAnswerTooLargeForItsShardIsNotKept(t *testing.T) {
	small, wide := answerWithLines(1, 3, 6), answerWithLines(2, 300, 6)
	if hotAnswerBytes(wide.inv) <= hotAnswerBytes(small.inv) {
		t.Fatalf("300 lines estimated at %d bytes, 3 lines at %d", hotAnswerBytes(wide.inv), hotAnswerBytes(small.inv))
	}
	h := newHotSet(1<<10, hotShards*hotAnswerBytes(small.inv)*4)
	h.offer(1, h.begin(1), small)
	h.offer(2, h.begin(2), wide)
	if _, ok := h.get(1, 0, 0); !ok {
		t.Fatal("the small answer was not kept")
	}
	if _, ok := h.get(2, 0, 0); ok {
		t.Fatal("an answer larger than its shard's share was kept")
	}
	checkHotBytes(t, h, "after the wide offer")
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

// len counts the answers held.
func (h *hotSet) len() int {
	n, _ := h.size()
	return n
}

// size returns the answers held and their estimated bytes.
func (h *hotSet) size() (entries, bytes int) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		entries += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}
