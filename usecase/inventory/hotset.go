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
type hotSet struct {
	shards   []hotShard
	perShard int
}

type hotShard struct {
	mu  sync.RWMutex
	m   map[int64]*hotAnswer
	seq atomic.Uint64
}

type hotAnswer struct {
	inv     domain.ProductInventory // shared and never modified
	expires int64                   // unix nanoseconds, from the entry
	dirGen  uint64
}

const hotShards = 64

func newHotSet(capacity int) *hotSet {
	if capacity <= 0 {
		return nil
	}
	h := &hotSet{shards: make([]hotShard, hotShards), perShard: max(1, capacity/hotShards)}
	for i := range h.shards {
		h.shards[i].m = make(map[int64]*hotAnswer)
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
	a := s.m[id]
	s.mu.RUnlock()
	if a == nil || a.expires <= now || a.dirGen != dirGen {
		return domain.ProductInventory{}, false
	}
	return a.inv, true
}

// begin returns the sequence a reader must present when it offers what it
// is about to read from the store.
func (h *hotSet) begin(id int64) uint64 { return h.shard(id).seq.Load() }

// offer keeps a unless a writer of the shard ran since begin returned seq.
func (h *hotSet) offer(id int64, seq uint64, a *hotAnswer) {
	s := h.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq.Load() != seq {
		return
	}
	if _, ok := s.m[id]; !ok && len(s.m) >= h.perShard {
		for k := range s.m { // map order is random enough to evict by
			delete(s.m, k)
			break
		}
	}
	s.m[id] = a
}

// invalidate forgets id and fails every offer in flight on its shard.
func (h *hotSet) invalidate(id int64) {
	s := h.shard(id)
	s.mu.Lock()
	s.seq.Add(1)
	delete(s.m, id)
	s.mu.Unlock()
}

// clear forgets everything.
func (h *hotSet) clear() {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		s.seq.Add(1)
		clear(s.m)
		s.mu.Unlock()
	}
}

// len counts the answers held.
func (h *hotSet) len() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
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
