package changefeed

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

type fakeCache struct {
	mu      sync.Mutex
	usable  bool
	flushes int
	calls   []bool
}

func (c *fakeCache) SetCacheUsable(u bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usable = u
	c.calls = append(c.calls, u)
	if !u {
		c.flushes++
	}
}

func (c *fakeCache) Flush() { c.mu.Lock(); c.flushes++; c.mu.Unlock() }

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

var (
	p0 = Partition{Topic: "gintoki.test.stock_items", Partition: 0}
	p1 = Partition{Topic: "gintoki.test.stock_items", Partition: 1}
	w0 = Partition{Topic: "gintoki.test.warehouses", Partition: 0}
)

func newTracker(opts ...Option) (*Tracker, *fakeCache, *clock) {
	tr, c, clk, _ := newLoggedTracker(opts...)
	return tr, c, clk
}

// newLoggedTracker is newTracker with its log kept, as text lines.
func newLoggedTracker(opts ...Option) (*Tracker, *fakeCache, *clock, *logtest.Buffer) {
	c := &fakeCache{usable: true}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	logs := &logtest.Buffer{}
	tr := NewTracker(c, 30*time.Second, slog.New(slog.NewTextHandler(logs, nil)), opts...)
	tr.now = clk.now
	tr.lastContact = clk.now()
	tr.lastHeartbeat = clk.now()
	return tr, c, clk, logs
}

func TestCacheOffUntilEveryPartitionCaughtUp(t *testing.T) {
	tr, c, _ := newTracker()
	if c.usable || tr.Ready() == nil {
		t.Fatal("cache usable before any partition is owned")
	}
	all := []Partition{p0, p1, w0}
	tr.SessionStarted(all, map[Partition]int64{p0: 10, p1: 0, w0: 5}, map[Partition]int64{p0: 12, p1: 0, w0: 5}, true)
	if tr.State() != CatchingUp || c.usable {
		t.Fatalf("state %v usable %v: p0 is 2 behind", tr.State(), c.usable)
	}
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), "1 of 3 partitions behind") {
		t.Fatalf("ready: %v", err)
	}
	tr.Handled(p0, 10)
	if c.usable {
		t.Fatal("usable one message early")
	}
	tr.Handled(p0, 11)
	if tr.State() != Live || !c.usable || tr.Ready() != nil {
		t.Fatalf("state %v usable %v ready %v after catching up", tr.State(), c.usable, tr.Ready())
	}
}

func TestIncompleteAssignmentIsNotReady(t *testing.T) {
	tr, c, _ := newTracker()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 3}, map[Partition]int64{p0: 3}, false)
	if c.usable || tr.State() == Live {
		t.Fatal("live while not owning every partition")
	}
}

func TestLongSilenceFlushesAndBypassesThenRecovers(t *testing.T) {
	tr, c, clk := newTracker()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 0}, true)
	if !c.usable {
		t.Fatal("not live")
	}
	clk.advance(29 * time.Second)
	tr.Tick()
	if tr.State() != Live {
		t.Fatal("stale before the bound")
	}
	clk.advance(2 * time.Second)
	tr.Tick()
	if tr.State() != Stale || c.usable || c.flushes == 0 {
		t.Fatalf("state %v usable %v flushes %d after 31s of silence", tr.State(), c.usable, c.flushes)
	}
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("ready: %v", err)
	}
	// The broker answers again, holding offsets up to 7: catch up first.
	tr.Contact(map[Partition]int64{p0: 7})
	if tr.State() != CatchingUp || c.usable {
		t.Fatalf("state %v usable %v right after contact", tr.State(), c.usable)
	}
	tr.Handled(p0, 6)
	if tr.State() != Live || !c.usable {
		t.Fatalf("state %v usable %v after catching up", tr.State(), c.usable)
	}
}

func TestShortSilenceKeepsTheCache(t *testing.T) {
	tr, c, clk := newTracker()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 0}, true)
	tr.SessionEnded()
	clk.advance(20 * time.Second)
	tr.Tick()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 0}, true)
	clk.advance(20 * time.Second)
	tr.Tick()
	if tr.State() != Live || !c.usable || c.flushes != 1 { // the one flush is NewTracker's
		t.Fatalf("state %v usable %v flushes %d", tr.State(), c.usable, c.flushes)
	}
}

func TestGapFlushes(t *testing.T) {
	tr, c, _ := newTracker()
	before := c.flushes
	tr.Gap(p0, "offset out of range")
	if c.flushes != before+1 || tr.Gaps() != 1 {
		t.Fatal("gap did not flush")
	}
}

func TestMissingTopicKeepsNotReadyUntilAssigned(t *testing.T) {
	tr, _, _ := newTracker()
	tr.TopicMissing(w0.Topic)
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), w0.Topic) {
		t.Fatalf("ready: %v, want the missing topic named", err)
	}
	tr.SessionStarted([]Partition{p0, w0}, map[Partition]int64{}, map[Partition]int64{}, true)
	if err := tr.Ready(); err != nil {
		t.Fatalf("ready after the topic appeared: %v", err)
	}
}

func TestStartingNeverGoesStale(t *testing.T) {
	tr, c, clk := newTracker()
	clk.advance(time.Hour)
	tr.Tick()
	if tr.State() != Starting || c.usable {
		t.Fatal("unexpected state")
	}
}

func goLive(t *testing.T, tr *Tracker) {
	t.Helper()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 0}, true)
	if tr.State() != Live {
		t.Fatalf("state %v, want live", tr.State())
	}
}

// A source that stops sending heartbeats (Debezium's task crashed, the relay
// lost the binlog or was stopped) while the broker answers is treated like
// a lost broker: flushed, bypassed, stale, until heartbeats flow again and
// the feed has caught up.
func TestSilentSourceGoesStaleAndRecoversWithItsHeartbeats(t *testing.T) {
	tr, c, clk := newTracker()
	goLive(t, tr)
	tr.Heartbeat()            // the first one turns the requirement on (auto)
	for i := 0; i < 25; i++ { // heartbeats every second, broker answering
		clk.advance(time.Second)
		tr.Heartbeat()
		tr.Contact(map[Partition]int64{p0: 0})
		tr.Tick()
	}
	if tr.State() != Live {
		t.Fatalf("state %v while heartbeats flow", tr.State())
	}
	for i := 0; i < 31; i++ { // the source stops; the broker still answers
		clk.advance(time.Second)
		tr.Contact(map[Partition]int64{p0: 0})
		tr.Tick()
	}
	if tr.State() != Stale || c.usable || c.flushes == 0 {
		t.Fatalf("state %v usable %v flushes %d: a silent source must flush and bypass", tr.State(), c.usable, c.flushes)
	}
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), "no source heartbeat") {
		t.Fatalf("ready %v, want the silent source named", err)
	}
	if age, on := tr.HeartbeatAge(); !on || age < 30*time.Second {
		t.Fatalf("heartbeat age %s on %v", age, on)
	}
	// Broker contact alone does not end it; a heartbeat does, then catch-up.
	clk.advance(time.Second)
	tr.Contact(map[Partition]int64{p0: 3})
	if tr.State() != Stale {
		t.Fatal("left stale without a heartbeat")
	}
	tr.Heartbeat()
	tr.Contact(map[Partition]int64{p0: 3})
	if tr.State() != CatchingUp {
		t.Fatalf("state %v after the heartbeat, want catching up", tr.State())
	}
	tr.Handled(p0, 2)
	if tr.State() != Live || !c.usable {
		t.Fatalf("state %v usable %v after catching up", tr.State(), c.usable)
	}
}

// Without heartbeats (none arrived, auto) silence of the source goes
// unnoticed by design: only the broker bound applies.
func TestNoHeartbeatsExpectedNoSourceBound(t *testing.T) {
	tr, _, clk := newTracker()
	goLive(t, tr)
	for i := 0; i < 60; i++ {
		clk.advance(time.Second)
		tr.Contact(map[Partition]int64{p0: 0})
		tr.Tick()
	}
	if tr.State() != Live {
		t.Fatalf("state %v without heartbeats expected", tr.State())
	}
	if _, on := tr.HeartbeatAge(); on {
		t.Fatal("heartbeats reported as expected")
	}
}

// Started ends the start gap once, for good: a feed outage later does not
// bring it back (the node keeps taking traffic, from the database).
func TestStartedLatchesOnceLive(t *testing.T) {
	tr, _, clk := newTracker()
	if tr.Started() == nil {
		t.Fatal("started before any partition")
	}
	goLive(t, tr)
	clk.advance(time.Minute) // the broker goes away
	tr.Tick()
	if tr.State() != Stale || tr.Ready() == nil {
		t.Fatalf("state %v: want stale", tr.State())
	}
	if err := tr.Started(); err != nil {
		t.Fatalf("start gap back after an outage: %v", err)
	}
}

// blockingCache takes its time turning the cache off, as a flush of a big
// cache does.
type blockingCache struct {
	fakeCache
	block            atomic.Bool
	entered, release chan struct{}
}

func (c *blockingCache) SetCacheUsable(u bool) {
	if !u && c.block.CompareAndSwap(true, false) {
		close(c.entered)
		<-c.release
	}
	c.fakeCache.SetCacheUsable(u)
}

// The tracker tells the cache what it decided after releasing its lock: a
// partition's Handled does not wait for the flush another call started.
func TestFlushIsNotUnderTheTrackersLock(t *testing.T) {
	c := &blockingCache{entered: make(chan struct{}), release: make(chan struct{})}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	tr := NewTracker(c, 30*time.Second, nil)
	tr.now = clk.now
	tr.lastContact = clk.now()
	goLive(t, tr)
	c.block.Store(true)
	clk.advance(time.Minute)
	go tr.Tick() // stale: the cache is turned off, slowly
	<-c.entered
	handled := make(chan struct{})
	go func() { tr.Handled(p0, 5); close(handled) }()
	select {
	case <-handled:
	case <-time.After(5 * time.Second):
		t.Fatal("Handled waited for the cache's flush")
	}
	close(c.release)
}

// slowStartCache holds SetCacheUsable(true) until released, as putting the
// cache to use does while it reads the warehouse table again.
type slowStartCache struct {
	fakeCache
	entered, release chan struct{}
}

func (c *slowStartCache) SetCacheUsable(u bool) {
	if u {
		close(c.entered)
		<-c.release
	}
	c.fakeCache.SetCacheUsable(u)
}

// Ready says live, and Started that the start gap is over, only once the
// cache is in use: a reader told "ready" while the cache is still being put
// to use would get the database.
func TestNotReadyUntilTheCacheIsInUse(t *testing.T) {
	c := &slowStartCache{entered: make(chan struct{}), release: make(chan struct{})}
	tr := NewTracker(c, 30*time.Second, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 0}, map[Partition]int64{p0: 0}, true)
	}()
	<-c.entered
	if tr.State() != Live {
		t.Fatalf("state %v, want live", tr.State())
	}
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), "putting the cache to use") {
		t.Fatalf("ready while the cache is being put to use: %v", err)
	}
	if err := tr.Started(); err == nil {
		t.Fatal("the start gap over while the cache is being put to use")
	}
	close(c.release)
	<-done
	if err := tr.Ready(); err != nil {
		t.Fatalf("ready once the cache is in use: %v", err)
	}
	if err := tr.Started(); err != nil {
		t.Fatalf("the start gap not over once the cache is in use: %v", err)
	}
}
