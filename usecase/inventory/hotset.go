package inventory

import (
	"sync"
	"sync/atomic"

	"github.com/gintoki/gintoki/domain"
)

// hotSet keeps finished answers of recently read products in front of the
// entry store, so a repeated read of a hot product allocates nothing: no
// copy out of the store, no decode, no join. It holds only what the store
// holds, and forgets a product whenever anyone writes it:
//
//   - writers (fills, events, invalidations) call invalidate before and
//     after they write the store, under the product's lock;
//   - a reader that built an answer from the store offers it with the
//     shard's sequence number taken before it read; the offer is refused if
//     any writer of the shard ran in between, so an answer read before a
//     write can never be kept after it;
//   - answers carry the warehouse directory generation they were joined
//     with and the entry's expiry, and are ignored once either is past.
//
// It is bounded by count and by an estimate of the bytes its answers take,
// whichever binds first: what it holds is live heap with pointers, which
// every GC cycle must mark, unlike the store's pointer-free byte queues,
// and which eats into the headroom a memory limit leaves the GC. Answers
// are map values, not pointers, so each costs the GC one object (its
// lines) besides the map's own arrays.
//
// The service leaves it off by default, because it did not pay in the load
// benchmark (scripts/bench/hotset.sh, 1M products, BENCHMARKS.md): a hit
// saves a few hundred nanoseconds of a request that costs the server ~15 us
// of CPU over HTTP, too little to measure even with Zipf-skewed keys, while
// spread-out keys make most reads miss it, offer their answer and evict
// another (13-21% more CPU per request with 100,000 answers), and near a
// memory limit its live heap multiplies the GC's work (1-2% -> 6-8% of
// the CPU).
type hotSet struct {
	shards        []hotShard
	perShard      int
	perShardBytes int
}

type hotShard struct {
	mu    sync.RWMutex
	m     map[int64]hotAnswer
	bytes int // hotAnswerBytes of every answer in m
	seq   atomic.Uint64
}

type hotAnswer struct {
	inv     domain.ProductInventory // shared and never modified
	expires int64                   // unix nanoseconds, from the entry
	dirGen  uint64
}

const hotShards = 64

// What one answer is estimated to take, for the byte bound: its map slot
// (key and value, with the map's spare room: tables grow by doubling and
// run 7/8 full at most), and per warehouse line a WarehouseStock in the
// lines array plus the code's bytes (shared with the warehouse directory
// today, counted anyway so the bound holds if they ever are not).
const (
	hotAnswerOverhead = 96
	hotLineOverhead   = 24
)

func hotAnswerBytes(inv domain.ProductInventory) int {
	n := hotAnswerOverhead
	for _, w := range inv.Warehouses {
		n += hotLineOverhead + len(w.WarehouseCode)
	}
	return n
}

// newHotSet holds up to entries answers taking up to maxBytes (estimated);
// either at 0 means no hot set.
func newHotSet(entries, maxBytes int) *hotSet {
	if entries <= 0 || maxBytes <= 0 {
		return nil
	}
	h := &hotSet{
		shards:        make([]hotShard, hotShards),
		perShard:      max(1, entries/hotShards),
		perShardBytes: max(1, maxBytes/hotShards),
	}
	for i := range h.shards {
		h.shards[i].m = make(map[int64]hotAnswer)
	}
	return h
}

func (h *hotSet) shard(id int64) *hotShard {
	return &h.shards[uint64(id)*0x9E3779B97F4A7C15>>(64-6)]
}

// get returns a live answer for id.
func (h *hotSet) get(id int64, now int64, dirGen uint64) (domain.ProductInventory, bool) {
	s := h.shard(id)
	s.mu.RLock()
	a, ok := s.m[id]
	s.mu.RUnlock()
	if !ok || a.expires <= now || a.dirGen != dirGen {
		return domain.ProductInventory{}, false
	}
	return a.inv, true
}

// begin returns the sequence a reader must present when it offers what it
// is about to read from the store.
func (h *hotSet) begin(id int64) uint64 { return h.shard(id).seq.Load() }

// offer keeps a unless a writer of the shard ran since begin returned seq,
// evicting answers at random until it fits both bounds. An answer larger
// than a shard's share of the byte bound is not kept.
func (h *hotSet) offer(id int64, seq uint64, a hotAnswer) {
	size := hotAnswerBytes(a.inv)
	if size > h.perShardBytes {
		return
	}
	s := h.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq.Load() != seq {
		return
	}
	s.remove(id)
	for len(s.m) > 0 && (len(s.m) >= h.perShard || s.bytes+size > h.perShardBytes) {
		for k := range s.m { // map order is random enough to evict by
			s.remove(k)
			break
		}
	}
	s.m[id] = a
	s.bytes += size
}

// remove forgets id; the caller holds s.mu.
func (s *hotShard) remove(id int64) {
	if old, ok := s.m[id]; ok {
		s.bytes -= hotAnswerBytes(old.inv)
		delete(s.m, id)
	}
}

// invalidate forgets id and fails every offer in flight on its shard.
func (h *hotSet) invalidate(id int64) {
	s := h.shard(id)
	s.mu.Lock()
	s.seq.Add(1)
	s.remove(id)
	s.mu.Unlock()
}

// clear forgets everything.
func (h *hotSet) clear() {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		clear(s.m)
		s.bytes = 0
		s.mu.Unlock()
	}
}

// sample returns up to n product ids from the hot set, spread over shards.
func (h *hotSet) sample(n int) []int64 {
	ids := make([]int64, 0, n)
	per := max(1, n/len(h.shards))
	for i := range h.shards {
		if len(ids) >= n {
			break
		}
		s := &h.shards[i]
		s.mu.RLock()
		taken := 0
		for id := range s.m { // map order is random
			if taken == per || len(ids) == n {
				break
			}
			ids = append(ids, id)
			taken++
		}
		s.mu.RUnlock()
	}
	return ids
}
