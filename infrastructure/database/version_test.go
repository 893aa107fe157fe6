package database

import (
	"sync"
	"testing"
	"time"
)

func TestNextVersionIsStrictlyIncreasingAcrossGoroutines(t *testing.T) {
	const goroutines, perGoroutine = 8, 2000
	results := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			vs := make([]uint64, perGoroutine)
			for i := range vs {
				vs[i] = NextVersion()
			}
			results[g] = vs
		})
	}
	wg.Wait()

	seen := make(map[uint64]bool, goroutines*perGoroutine)
	for _, vs := range results {
		for i, v := range vs {
			if i > 0 && v <= vs[i-1] {
				t.Fatalf("version %d after %d in one goroutine", v, vs[i-1])
			}
			if seen[v] {
				t.Fatalf("version %d handed out twice", v)
			}
			seen[v] = true
		}
	}
}

func TestNextVersionFollowsTheMicrosecondClock(t *testing.T) {
	before := uint64(time.Now().UnixMicro())
	v := NextVersion()
	if v < before {
		t.Errorf("version %d is older than the clock before the call (%d)", v, before)
	}
}

func TestNextVersionAboveAFutureFloor(t *testing.T) {
	// Only a little ahead: the version clock is process-wide and other tests
	// in this binary use it after this one.
	floor := uint64(time.Now().Add(2 * time.Second).UnixMicro())
	v := nextVersionAbove(floor)
	if v <= floor {
		t.Fatalf("version %d not above floor %d", v, floor)
	}
	if next := NextVersion(); next <= v {
		t.Errorf("NextVersion %d went back below %d", next, v)
	}
}
