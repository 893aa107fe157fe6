// Package bigcachestore keeps cache entries in bigcache: values live in a few
// large byte slices the garbage collector does not scan, which is what lets
// millions of entries stay resident without GC cost.
package bigcachestore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/allegro/bigcache/v3"

	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/keylock"
)

// Config sizes the store.
type Config struct {
	// SizeMB caps the memory of the entries (bigcache's HardMaxCacheSize).
	SizeMB int
	// LifeWindow is when bigcache itself may drop an entry; entries carry
	// their own (shorter, jittered) expiry, so this only reclaims memory.
	LifeWindow time.Duration
	// Shards must be a power of two.
	Shards int
}

// Store implements inventory.EntryStore.
type Store struct {
	c         *bigcache.BigCache
	bufs      sync.Pool
	scanMu    sync.Mutex
	scan      *bigcache.EntryInfoIterator // the walk Scan goes on with; nil: start over
	evictions atomic.Uint64               // removed for lack of space
	expired   atomic.Uint64               // removed by bigcache's clean-up
	corrupt   atomic.Uint64
}

// New opens a store.
func New(cfg Config) (*Store, error) {
	if cfg.SizeMB <= 0 {
		return nil, fmt.Errorf("cache size must be positive, got %d MB", cfg.SizeMB)
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1024
	}
	if cfg.Shards&(cfg.Shards-1) != 0 {
		return nil, fmt.Errorf("cache shards must be a power of two, got %d", cfg.Shards)
	}
	if cfg.LifeWindow <= 0 {
		cfg.LifeWindow = time.Hour
	}
	s := &Store{}
	s.bufs.New = func() any { b := make([]byte, 0, 128); return &b }
	bc := bigcache.Config{
		Shards:     cfg.Shards,
		LifeWindow: cfg.LifeWindow,
		// bigcache checks the clock of every entry in a shard at each clean;
		// once a minute is plenty for a safety net.
		CleanWindow:        time.Minute,
		MaxEntriesInWindow: 64 * cfg.Shards, // initial size only; shards grow
		MaxEntrySize:       64,
		HardMaxCacheSize:   cfg.SizeMB,
		Hasher:             idHasher{},
		OnRemoveWithReason: func(_ string, _ []byte, reason bigcache.RemoveReason) {
			switch reason {
			case bigcache.NoSpace:
				s.evictions.Add(1)
			case bigcache.Expired:
				s.expired.Add(1)
			}
		},
	}
	c, err := bigcache.New(context.Background(), bc)
	if err != nil {
		return nil, fmt.Errorf("open bigcache: %w", err)
	}
	s.c = c
	return s, nil
}

// keyBuf holds a key's bytes for the length of one call, so building the
// key string does not allocate.
type keyBuf [8]byte

var keyBufs = sync.Pool{New: func() any { return new(keyBuf) }}

// key returns the 8-byte little-endian key of id. The string aliases kb:
// bigcache copies the keys it keeps and does not hold them past a call, so
// kb can go back to the pool once the call returns.
func (kb *keyBuf) key(id int64) string {
	u := uint64(id)
	for i := range kb {
		kb[i] = byte(u >> (8 * i))
	}
	return unsafe.String(&kb[0], len(kb))
}

// Get implements inventory.EntryStore.
func (s *Store) Get(productID int64, dst *inventory.Entry) bool {
	kb := keyBufs.Get().(*keyBuf)
	b, err := s.c.Get(kb.key(productID))
	keyBufs.Put(kb)
	if err != nil {
		return false
	}
	if err := decodeEntry(b, dst); err != nil {
		s.corrupt.Add(1)
		s.Delete(productID)
		return false
	}
	return true
}

// Set implements inventory.EntryStore.
func (s *Store) Set(productID int64, e *inventory.Entry) error {
	bp := s.bufs.Get().(*[]byte)
	buf := appendEntry((*bp)[:0], e)
	kb := keyBufs.Get().(*keyBuf)
	err := s.c.Set(kb.key(productID), buf)
	keyBufs.Put(kb)
	*bp = buf
	s.bufs.Put(bp)
	if err != nil {
		return fmt.Errorf("store entry of product %d: %w", productID, err)
	}
	return nil
}

// Delete implements inventory.EntryStore.
func (s *Store) Delete(productID int64) {
	kb := keyBufs.Get().(*keyBuf)
	_ = s.c.Delete(kb.key(productID)) // the only error is "already gone"
	keyBufs.Put(kb)
}

// Scan implements inventory.EntryStore with bigcache's iterator, which
// copies one shard's key hashes at a time and skips entries gone since.
func (s *Store) Scan(n int) []int64 {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	ids := make([]int64, 0, n)
	fromStart := s.scan == nil // this call walks from the store's start
	if fromStart {
		s.scan = s.c.Iterator()
	}
	var seen map[int64]bool // ids of this call, once the walk starts over in it
	for len(ids) < n {
		if !s.scan.SetNext() {
			s.scan = nil
			if fromStart {
				break // the whole store in one call
			}
			fromStart, s.scan = true, s.c.Iterator()
			seen = make(map[int64]bool, len(ids))
			for _, id := range ids {
				seen[id] = true
			}
			continue
		}
		info, err := s.scan.Value()
		if err != nil || len(info.Key()) != len(keyBuf{}) {
			continue
		}
		if id := idOfKey(info.Key()); !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// idOfKey reads back the product id of an 8-byte key.
func idOfKey(k string) int64 {
	var u uint64
	for i := range len(keyBuf{}) {
		u |= uint64(k[i]) << (8 * i)
	}
	return int64(u)
}

// Reset implements inventory.EntryStore.
func (s *Store) Reset() { _ = s.c.Reset() }

// Len implements inventory.EntryStore.
func (s *Store) Len() int { return s.c.Len() }

// Close releases the clean-up goroutine.
func (s *Store) Close() error { return s.c.Close() }

// Stats is a snapshot for metrics.
type Stats struct {
	Entries       int
	CapacityBytes int
	Evictions     uint64
	Expired       uint64
	Collisions    int64
	Corrupt       uint64
}

// Stats returns current counters.
func (s *Store) Stats() Stats {
	st := s.c.Stats()
	return Stats{
		Entries:       s.c.Len(),
		CapacityBytes: s.c.Capacity(),
		Evictions:     s.evictions.Load(),
		Expired:       s.expired.Load(),
		Collisions:    st.Collisions,
		Corrupt:       s.corrupt.Load(),
	}
}

// idHasher maps the 8-byte key of a product id to a uint64 with a bijection
// (odd multiplier, xor-shift), so two ids can never share a hash: bigcache
// treats a hash collision as a miss, which here cannot happen. The mixing
// spreads ids that share low bits across shards.
type idHasher struct{}

func (idHasher) Sum64(k string) uint64 {
	var u uint64
	for i := 0; i < len(k) && i < 8; i++ {
		u |= uint64(k[i]) << (8 * i)
	}
	// bigcache picks a shard by the low bits: fold the well-mixed high
	// bits down.
	h := keylock.Spread(int64(u))
	return h ^ (h >> 29)
}

var _ inventory.EntryStore = (*Store)(nil)
