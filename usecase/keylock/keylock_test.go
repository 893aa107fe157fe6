package keylock

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestLockExcludesPerKey(t *testing.T) {
	var l Locker
	var inside [4]atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := int64((g + i) % 4)
				l.Lock(k)
				if n := inside[k].Add(1); n != 1 {
					t.Errorf("key %d held by %d callers", k, n)
				}
				inside[k].Add(-1)
				l.Unlock(k)
			}
		}(g)
	}
	wg.Wait()
	if h := l.Held(); h != 0 {
		t.Fatalf("%d keys left in the table", h)
	}
}

func TestDifferentKeysDoNotBlockEachOther(t *testing.T) {
	var l Locker
	l.Lock(1)
	done := make(chan bool)
	go func() { c := l.Lock(2); l.Unlock(2); done <- c }()
	if contended := <-done; contended {
		t.Fatal("key 2 reported contended while only key 1 is held")
	}
	l.Unlock(1)
}

func TestLockReportsContention(t *testing.T) {
	var l Locker
	if l.Lock(7) {
		t.Fatal("first locker saw contention")
	}
	got := make(chan bool)
	go func() { c := l.Lock(7); l.Unlock(7); got <- c }()
	for l.waiters(7) < 2 {
	}
	l.Unlock(7)
	if !<-got {
		t.Fatal("second locker did not see contention")
	}
}

func TestLockAllInOrderDoesNotDeadlock(t *testing.T) {
	var l Locker
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				keys := []int64{int64(i % 5), int64(5 + g%3), int64(10 + (i+g)%7)}
				l.LockAll(keys)
				l.UnlockAll(keys)
				l.Lock(keys[1])
				l.Unlock(keys[1])
			}
		}(g)
	}
	wg.Wait()
	if h := l.Held(); h != 0 {
		t.Fatalf("%d keys left", h)
	}
}

func TestUnlockOfUnlockedKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	var l Locker
	l.Unlock(3)
}

func (l *Locker) waiters(key int64) int {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.held[key]; m != nil {
		return m.refs
	}
	return 0
}

func BenchmarkLockUncontended(b *testing.B) {
	var l Locker
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := int64(0)
		for pb.Next() {
			k++
			l.Lock(k)
			l.Unlock(k)
		}
	})
}

func BenchmarkLockContendedOneKey(b *testing.B) {
	var l Locker
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Lock(42)
			l.Unlock(42)
		}
	})
}

// ShardOf spreads sequential ids over every shard, for any power of two,
// and never leaves the range.
func TestShardOfSpreadsSequentialIDs(t *testing.T) {
	for _, shards := range []int{1, 2, 64, 256} {
		seen := make([]int, shards)
		for id := int64(1); id <= int64(64*shards); id++ {
			s := ShardOf(id, shards)
			if s < 0 || s >= shards {
				t.Fatalf("shard %d of %d", s, shards)
			}
			seen[s]++
		}
		for s, n := range seen {
			if n == 0 {
				t.Fatalf("%d shards: shard %d never used by %d sequential ids", shards, s, 64*shards)
			}
		}
	}
}
