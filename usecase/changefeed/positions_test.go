package changefeed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

var hb0 = Partition{Topic: "__debezium-heartbeat.gintoki", Partition: 0}

func gtids(t *testing.T, s string) domain.SourcePos {
	t.Helper()
	p, err := domain.ParseSourcePos(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// liveTracker owns p0, p1, w0 and the heartbeat partition, each caught up
// at its start offset, with positions on for the table topics.
func liveTracker(t *testing.T) (*Tracker, *fakeCache, *clock) {
	t.Helper()
	tr, c, clk := newTracker(WithPositions(p0.Topic, w0.Topic))
	starts := map[Partition]int64{p0: 10, p1: 20, w0: 5, hb0: 0}
	tr.SessionStarted([]Partition{p0, p1, w0, hb0}, starts, starts, true)
	if tr.State() != Live {
		t.Fatalf("state %v", tr.State())
	}
	return tr, c, clk
}

func applied(tr *Tracker) string {
	if p := tr.Applied(); p != nil {
		return p.String()
	}
	return "nil"
}

// A position is applied once every owned table partition has been handled
// up to its offset: one lagging partition holds it back, whatever the
// others did. Later positions are proven in order, and the applied position
// only grows.
func TestAppliedOnceEveryPartitionReachesItsOffset(t *testing.T) {
	tr, _, _ := liveTracker(t)
	if tr.Applied() != nil {
		t.Fatal("applied before any position")
	}
	tr.Position(gtids(t, "0-1-100"), map[Partition]int64{p0: 12, p1: 20, w0: 6, hb0: 999}, time.Unix(1, 0))
	if got := applied(tr); got != "nil" {
		t.Fatalf("applied %s with p0 and w0 behind", got)
	}
	tr.Handled(p0, 10)
	tr.Handled(p0, 11)
	if got := applied(tr); got != "nil" {
		t.Fatalf("applied %s with w0 behind", got)
	}
	tr.Position(gtids(t, "0-1-105,1-2-7"), map[Partition]int64{p0: 13, p1: 21, w0: 6}, time.Unix(2, 0))
	tr.Handled(w0, 5) // the lagging partition catches up: the first is proven
	if got := applied(tr); got != "0-0-100" {
		t.Fatalf("applied %s, want 0-0-100", got)
	}
	tr.Handled(p0, 12)
	if got := applied(tr); got != "0-0-100" {
		t.Fatalf("applied %s with p1 behind the second position", got)
	}
	tr.Handled(p1, 20)
	if got := applied(tr); got != "0-0-105,1-0-7" {
		t.Fatalf("applied %s, want 0-0-105,1-0-7", got)
	}
	// An older position proven later does not take the applied one back.
	tr.Position(gtids(t, "0-1-90"), map[Partition]int64{p0: 13, p1: 21, w0: 6}, time.Unix(3, 0))
	if got := applied(tr); got != "0-0-105,1-0-7" {
		t.Fatalf("applied %s after an older position", got)
	}
	if age, ok := tr.AppliedAge(); !ok || age <= 0 {
		t.Errorf("applied age %v %v", age, ok)
	}
}

// A position that leaves out an owned table partition, names one not owned,
// or names none (offsets empty, as a relay that has published nothing would
// send) proves nothing; a Debezium heartbeat brings none at all.
func TestPositionsThatProveNothing(t *testing.T) {
	for name, offsets := range map[string]map[Partition]int64{
		"w0 left out":    {p0: 10, p1: 20},
		"p2 not owned":   {p0: 10, p1: 20, w0: 5, {Topic: p0.Topic, Partition: 2}: 0},
		"no offsets":     {},
		"only non-table": {hb0: 3},
	} {
		tr, _, _ := liveTracker(t)
		tr.Position(gtids(t, "0-1-100"), offsets, time.Unix(1, 0))
		tr.Handled(p0, 50)
		tr.Handled(p1, 50)
		tr.Handled(w0, 50)
		if got := applied(tr); got != "nil" {
			t.Errorf("%s: applied %s", name, got)
		}
	}
	tr, _, _ := liveTracker(t)
	tr.Heartbeat() // Debezium's: a sign of life without a position
	if tr.Applied() != nil || tr.PositionsReported() {
		t.Errorf("applied %s, reported %v from plain heartbeats", applied(tr), tr.PositionsReported())
	}
	off, _, _ := newTracker() // positions off: nothing is kept
	starts := map[Partition]int64{p0: 0}
	off.SessionStarted([]Partition{p0}, starts, starts, true)
	off.Position(gtids(t, "0-1-1"), map[Partition]int64{p0: 0}, time.Unix(1, 0))
	if off.Applied() != nil {
		t.Error("applied without WithPositions")
	}
}

// What was proven is forgotten when the cache stops being vouched for: a
// gap, a fleet flush, a session that starts elsewhere, the feed going
// stale. A session that goes on where the last left off keeps it.
func TestAppliedResets(t *testing.T) {
	prove := func(tr *Tracker) {
		t.Helper()
		tr.Position(gtids(t, "0-1-100"), map[Partition]int64{p0: 10, p1: 20, w0: 5}, time.Unix(1, 0))
		if applied(tr) != "0-0-100" {
			t.Fatalf("not proven: %s", applied(tr))
		}
	}
	starts := map[Partition]int64{p0: 10, p1: 20, w0: 5, hb0: 0}
	for name, reset := range map[string]func(*Tracker, *clock){
		"gap":   func(tr *Tracker, _ *clock) { tr.Gap(p1, "lost") },
		"flush": func(tr *Tracker, _ *clock) { tr.Flushed() },
		"moved": func(tr *Tracker, _ *clock) {
			tr.SessionStarted([]Partition{p0, p1, w0, hb0}, map[Partition]int64{p0: 10, p1: 3, w0: 5}, starts, true)
		},
		"new one": func(tr *Tracker, _ *clock) {
			tr.SessionStarted([]Partition{p0, p1, w0, {Topic: p0.Topic, Partition: 2}}, starts, starts, true)
		},
		"stale": func(tr *Tracker, clk *clock) { clk.advance(time.Minute); tr.Tick() },
	} {
		tr, _, clk := liveTracker(t)
		prove(tr)
		// A pending position is dropped too.
		tr.Position(gtids(t, "0-1-200"), map[Partition]int64{p0: 11, p1: 20, w0: 5}, time.Unix(2, 0))
		reset(tr, clk)
		if got := applied(tr); got != "nil" {
			t.Errorf("%s: applied %s after it", name, got)
		}
		tr.Handled(p0, 10)
		if got := applied(tr); got != "nil" {
			t.Errorf("%s: a position sent before it was proven after it: %s", name, got)
		}
	}
	tr, _, _ := liveTracker(t)
	prove(tr)
	tr.SessionEnded()
	tr.SessionStarted([]Partition{p0, p1, w0, hb0}, starts, starts, true)
	if got := applied(tr); got != "0-0-100" {
		t.Errorf("a session going on where the last left off forgot %s", got)
	}
	// Proven again after a reset, by a position sent after it.
	tr.Gap(p0, "lost")
	tr.Position(gtids(t, "0-1-300"), map[Partition]int64{p0: 10, p1: 20, w0: 5}, time.Unix(3, 0))
	if got := applied(tr); got != "0-0-300" {
		t.Errorf("after the gap: applied %s, want 0-0-300", got)
	}
}

// Nothing is proven while the feed is not live, and what was sent meanwhile
// is proven once it is.
func TestAppliedOnlyWhileLive(t *testing.T) {
	tr, _, _ := newTracker(WithPositions(p0.Topic))
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 2}, true)
	tr.Position(gtids(t, "0-1-5"), map[Partition]int64{p0: 1}, time.Unix(1, 0))
	tr.Handled(p0, 0)
	if got := applied(tr); got != "nil" {
		t.Fatalf("applied %s while catching up", got)
	}
	tr.Handled(p0, 1)
	if tr.State() != Live || applied(tr) != "0-0-5" {
		t.Fatalf("state %v applied %s", tr.State(), applied(tr))
	}
}

// WaitApplied returns as soon as the position is proven, by the partition
// that was behind, from another goroutine; and false when its context ends
// first. Concurrent handling of several partitions never proves a position
// a partition has not reached.
func TestWaitApplied(t *testing.T) {
	tr, _, _ := liveTracker(t)
	want := gtids(t, "0-1-100")
	tr.Position(want, map[Partition]int64{p0: 11, p1: 21, w0: 6}, time.Unix(1, 0))
	got := make(chan bool, 1)
	go func() { got <- tr.WaitApplied(context.Background(), want) }()
	var wg sync.WaitGroup
	for _, p := range []Partition{p0, p1, w0} {
		wg.Go(func() {
			start := map[Partition]int64{p0: 10, p1: 20, w0: 5}[p]
			tr.Handled(p, start)
		})
	}
	wg.Wait()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("WaitApplied false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitApplied did not return once proven")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if tr.WaitApplied(ctx, gtids(t, "0-1-101")) {
		t.Fatal("WaitApplied true for a transaction no position covers")
	}
}

// Many partitions handled concurrently, one lagging, with positions
// pending: whenever a position is applied, every partition had reached its
// offsets.
func TestAppliedUnderConcurrency(t *testing.T) {
	const parts, msgs = 8, 300
	owned := make([]Partition, parts)
	starts := map[Partition]int64{}
	for i := range owned {
		owned[i] = Partition{Topic: p0.Topic, Partition: int32(i)}
		starts[owned[i]] = 0
	}
	tr, _, _ := newTracker(WithPositions(p0.Topic))
	tr.SessionStarted(owned, starts, starts, true)
	src := gtids(t, "0-1-1")[0].Source
	for seq := int64(1); seq <= msgs; seq++ {
		offsets := map[Partition]int64{}
		for _, p := range owned {
			offsets[p] = seq
		}
		tr.Position(domain.SourcePos{{Source: src, Seq: uint64(seq)}}, offsets, time.Unix(1, 0))
	}
	var mu sync.Mutex
	handled := map[Partition]int64{}
	var wg sync.WaitGroup
	for _, p := range owned {
		wg.Go(func() {
			for off := range int64(msgs) {
				if p.Partition == parts-1 {
					time.Sleep(20 * time.Microsecond)
				}
				// Counted before the tracker hears it: never behind
				// what the tracker saw.
				mu.Lock()
				handled[p] = off + 1
				mu.Unlock()
				tr.Handled(p, off)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	checks := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		a := tr.Applied()
		if a == nil {
			continue
		}
		checks++
		mu.Lock()
		for _, p := range owned {
			if handled[p] < int64(a[0].Seq) {
				t.Fatalf("applied %d with %v handled up to %d", a[0].Seq, p, handled[p])
			}
		}
		mu.Unlock()
	}
	if a := tr.Applied(); a == nil || a[0].Seq != msgs || checks == 0 {
		t.Fatalf("applied %v at the end (%d checks), want %d", a, checks, msgs)
	}
}
