package inventory

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// readSample remembers a sample of the products read lately, for the
// consistency inspector: the products served most are the likeliest to be
// in it, so a wrong value that many clients see is found first. One read in
// sampleEvery is noted, in a ring that later notes overwrite; a read costs
// a random number and, rarely, two atomic writes.
type readSample struct {
	next  atomic.Uint64
	slots [sampleSlots]atomic.Int64
}

const (
	sampleSlots = 1024 // a power of two
	sampleEvery = 16   // a power of two
)

// note records a read of productID, one time in sampleEvery.
func (r *readSample) note(productID int64) {
	if rand.Uint32()&(sampleEvery-1) != 0 {
		return
	}
	r.slots[r.next.Add(1)&(sampleSlots-1)].Store(productID)
}

// take returns up to n distinct products from the sample, the most recent
// first.
func (r *readSample) take(n int) []int64 {
	if n <= 0 {
		return nil
	}
	end := r.next.Load()
	ids := make([]int64, 0, min(n, sampleSlots))
	for i := uint64(0); i < sampleSlots && len(ids) < n; i++ {
		id := r.slots[(end-i)&(sampleSlots-1)].Load()
		if id != 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// forget empties the sample (a flush: what was read may be gone).
func (r *readSample) forget() {
	for i := range r.slots {
		r.slots[i].Store(0)
	}
}
