package readiness

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

type fakeDB struct{ err error }

func (f *fakeDB) Ping(context.Context) error { return f.err }

// flag is a condition or cache state a test moves.
type flag struct{ err error }

func (f *flag) cond() error { return f.err }

func TestReadinessPolicy(t *testing.T) {
	db := &fakeDB{}
	feedLive := &flag{err: errors.New("change feed: catching up")}
	cacheOn := true
	clock := time.Unix(1_700_000_000, 0)
	c := New(db, time.Second, func() bool { return cacheOn }, feedLive.cond)
	c.now = func() time.Time { return clock }
	check := func(step, want string) {
		t.Helper()
		clock = clock.Add(time.Second) // past the reuse window
		err := c.Ready(context.Background())
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Fatalf("%s: ready %v, want %q", step, err, want)
		}
	}
	check("start gap: the feed not caught up yet", "catching up")
	db.err = errors.New("connection refused")
	feedLive.err = nil
	cacheOn = false
	check("started, but neither cache nor database answers", "database unreachable and no cache")
	db.err = nil
	check("started", "")
	// A fleet-wide feed problem: the cache is bypassed, the database answers.
	feedLive.err = errors.New("change feed: broker unreachable")
	check("feed away after the start: serving from the database", "")
	// A fleet-wide database problem: the cache answers what it holds.
	feedLive.err, cacheOn, db.err = nil, true, errors.New("connection refused")
	check("database away, cache in use", "")
}

// The verdict is shared for a moment: probes and the metric do not each
// ping the database.
func TestVerdictReusedBriefly(t *testing.T) {
	db := &fakeDB{}
	clock := time.Unix(1_700_000_000, 0)
	c := New(db, time.Second, nil)
	c.now = func() time.Time { return clock }
	if c.Ready(context.Background()) != nil {
		t.Fatal("not ready")
	}
	db.err = errors.New("down")
	clock = clock.Add(100 * time.Millisecond)
	if c.Ready(context.Background()) != nil {
		t.Fatal("verdict not reused within the window")
	}
	clock = clock.Add(time.Second)
	if c.Ready(context.Background()) == nil {
		t.Fatal("verdict reused past the window")
	}
}

// A watcher (the gRPC health mirror) hears every turn of the verdict, and
// hears it before Ready returns it: what a probe has seen, the mirror holds.
func TestWatcherHearsEveryTurnBeforeTheProbe(t *testing.T) {
	db := &fakeDB{}
	feedLive := &flag{err: errors.New("change feed: catching up")}
	clock := time.Unix(1_700_000_000, 0)
	c := New(db, time.Second, nil, feedLive.cond)
	c.now = func() time.Time { return clock }
	var heard []bool
	c.Watch(func(ready bool) { heard = append(heard, ready) })
	probe := func() {
		t.Helper()
		clock = clock.Add(time.Second) // past the reuse window
		err := c.Ready(context.Background())
		if len(heard) == 0 || heard[len(heard)-1] != (err == nil) {
			t.Fatalf("probe saw ready=%v, the watcher last heard %v", err == nil, heard)
		}
	}
	probe() // the start gap
	probe() // unchanged: not told again
	feedLive.err = nil
	probe()
	probe()
	db.err = errors.New("down") // no cache: not ready
	probe()
	db.err = nil
	probe()
	if want := []bool{false, true, false, true}; !slices.Equal(heard, want) {
		t.Fatalf("watcher heard %v, want %v", heard, want)
	}
	// A watcher added later hears the current verdict at once.
	var late []bool
	c.Watch(func(ready bool) { late = append(late, ready) })
	if !slices.Equal(late, []bool{true}) {
		t.Fatalf("late watcher heard %v, want [true]", late)
	}
}
