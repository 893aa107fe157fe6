// Package keylock gives one mutex per int64 key without keeping a mutex for
// every key ever seen: a key's mutex exists only while someone holds or waits
// for it. It is how concurrent misses of one product coalesce into one
// database query.
package keylock

import (
	"math/bits"
	"sync"
)

const shardCount = 256 // a power of two; spreads the bookkeeping lock

// Locker is the set of per-key mutexes. The zero value is ready to use.
type Locker struct {
	shards [shardCount]shard
}

type shard struct {
	mu    sync.Mutex
	held  map[int64]*keyMutex
	spare []*keyMutex // recycled mutexes: a cold-key storm would otherwise allocate one per miss
}

type keyMutex struct {
	mu   sync.Mutex
	refs int // holders + waiters; the entry leaves the map when it drops to zero
}

func (l *Locker) shard(key int64) *shard { return &l.shards[ShardOf(key, shardCount)] }

// Spread mixes a key's bits (Fibonacci hashing: a multiplication by 2^64
// over the golden ratio, a bijection), so that sequential ids land far
// apart; every sharded structure keyed by product id uses it.
func Spread(key int64) uint64 { return uint64(key) * 0x9E3779B97F4A7C15 }

// ShardOf is key's shard among shards, a power of two: the top bits of
// Spread, the best mixed.
func ShardOf(key int64, shards int) int {
	return int(Spread(key) >> (64 - bits.Len(uint(shards-1))))
}

// Lock blocks until the caller holds key. It reports whether another caller
// held or awaited the key at the time, which is how a miss knows it was
// coalesced with someone else's fill.
func (l *Locker) Lock(key int64) (contended bool) {
	s := l.shard(key)
	s.mu.Lock()
	if s.held == nil {
		s.held = make(map[int64]*keyMutex)
	}
	m := s.held[key]
	if m == nil {
		if n := len(s.spare); n > 0 {
			m = s.spare[n-1]
			s.spare = s.spare[:n-1]
		} else {
			m = new(keyMutex)
		}
		s.held[key] = m
	}
	m.refs++
	contended = m.refs > 1
	s.mu.Unlock()
	m.mu.Lock()
	return contended
}

// Unlock releases key. Unlocking a key that is not held is a programming
// error and panics, like sync.Mutex.
func (l *Locker) Unlock(key int64) {
	s := l.shard(key)
	s.mu.Lock()
	m := s.held[key]
	if m == nil {
		s.mu.Unlock()
		panic("keylock: unlock of unlocked key")
	}
	m.refs--
	if m.refs == 0 {
		delete(s.held, key)
		if len(s.spare) < 64 {
			s.spare = append(s.spare, m)
		}
	}
	// Unlock after the bookkeeping: a recycled mutex must be unlocked before
	// anyone can take it again, and nobody can while we hold s.mu.
	m.mu.Unlock()
	s.mu.Unlock()
}

// LockAll locks every key of keys, which must be sorted ascending and free of
// duplicates: taking locks in one global order is what keeps two batches, or
// a batch and single reads, from deadlocking. It returns how many of the
// keys were contended.
func (l *Locker) LockAll(keys []int64) (contended int) {
	for _, k := range keys {
		if l.Lock(k) {
			contended++
		}
	}
	return contended
}

// UnlockAll releases keys taken with LockAll.
func (l *Locker) UnlockAll(keys []int64) {
	for _, k := range keys {
		l.Unlock(k)
	}
}

// Held reports how many keys are held or awaited; tests use it to prove
// nothing leaks.
func (l *Locker) Held() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.held)
		s.mu.Unlock()
	}
	return n
}
