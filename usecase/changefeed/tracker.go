package changefeed

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// CacheControl is what the tracker does to the cache.
type CacheControl interface {
	// SetCacheUsable(false) bypasses the cache (it flushes it, or keeps its
	// entries for stale-if-error answers); true lets reads use and fill it
	// again, with nothing kept from before.
	SetCacheUsable(bool)
	// Flush drops every entry (the feed had a gap).
	Flush()
}

// State is where the feed stands.
type State int

// The states of the feed.
const (
	// Starting: no partition owned yet. Reads go to the database.
	Starting State = iota
	// CatchingUp: partitions owned, not yet at the end offsets seen when
	// they were assigned. Reads go to the database; events leave markers.
	CatchingUp
	// Live: caught up; the cache is used and filled.
	Live
	// Stale: the broker, or the source behind it (its heartbeats), has
	// been silent longer than the staleness bound; the cache was flushed
	// and reads bypass it.
	Stale
)

func (s State) String() string {
	return [...]string{"starting", "catching_up", "live", "stale"}[s]
}

// Tracker turns what the consumer observes into cache decisions. It is safe
// for concurrent use (partitions are consumed in parallel).
type Tracker struct {
	cache        CacheControl
	maxStaleness time.Duration
	now          func() time.Time
	log          *slog.Logger

	// applyMu orders what the cache is told (see unlock); pending is what
	// it is to be told once mu is released.
	applyMu sync.Mutex
	pending []bool
	// cacheInUse is the last thing the cache was told: Live is not ready
	// before the cache is in use (putting it to use may read the
	// warehouse table first), or a reader told "ready" would still get
	// the database.
	cacheInUse atomic.Bool
	// usedOnce: the cache was put to use once; the start gap is over.
	usedOnce atomic.Bool

	mu          sync.Mutex
	state       State
	owned       []Partition
	complete    bool
	positions   map[Partition]int64 // next offset to handle
	targets     map[Partition]int64 // end offsets to reach before going live
	lastContact time.Time
	missing     map[string]time.Time
	gaps        int
	// beenLive: the feed was live once; the start gap is over for good.
	// liveSince is when it first was.
	beenLive  bool
	liveSince time.Time
	// staleSince is when the feed last went stale.
	staleSince time.Time
	// Source heartbeats: policy says when they are required; heartbeats is
	// whether they are now; lastHeartbeat is when the latest arrived (the
	// tracker's creation before the first); graceWarned: the one warning
	// about a source without heartbeats was given.
	policy        HeartbeatPolicy
	heartbeats    bool
	lastHeartbeat time.Time
	graceWarned   bool
	// pos is the applied position (positions.go).
	pos positions
}

// NewTracker returns a tracker in the Starting state; it turns the cache off
// until the feed is live. Under HeartbeatsRequired the source's silence is
// measured from now.
func NewTracker(cache CacheControl, maxStaleness time.Duration, log *slog.Logger, opts ...Option) *Tracker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{
		cache: cache, maxStaleness: maxStaleness, now: time.Now, log: log,
		positions: map[Partition]int64{}, targets: map[Partition]int64{}, missing: map[string]time.Time{},
	}
	for _, o := range opts {
		o(t)
	}
	t.lastContact = t.now()
	t.lastHeartbeat = t.lastContact
	t.heartbeats = t.policy == HeartbeatsRequired
	cache.SetCacheUsable(false)
	return t
}

// SessionStarted records a new ownership of partitions.
func (t *Tracker) SessionStarted(assigned []Partition, starts, ends map[Partition]int64, complete bool) {
	t.mu.Lock()
	defer t.unlock()
	t.sessionPositions(assigned, starts)
	t.owned = append(t.owned[:0], assigned...)
	t.complete = complete
	t.lastContact = t.now()
	for _, p := range assigned {
		if s, ok := starts[p]; ok {
			t.positions[p] = s
		}
		if e, ok := ends[p]; ok {
			t.targets[p] = e
		}
		delete(t.missing, p.Topic)
	}
	switch {
	case t.state == Starting:
		t.setState(CatchingUp, "partitions assigned")
	case t.state == Stale && t.sourceHeardSinceStale():
		t.setState(CatchingUp, "partitions assigned again")
	}
	t.evaluate()
	t.provePositions()
}

// SessionEnded records that the partitions were released (a rebalance or a
// lost broker). The cache stays in use: the staleness bound decides.
func (t *Tracker) SessionEnded() {
	t.mu.Lock()
	defer t.unlock()
	t.complete = false
}

// Contact records that a broker answered with fresh end offsets.
func (t *Tracker) Contact(ends map[Partition]int64) {
	t.mu.Lock()
	defer t.unlock()
	t.lastContact = t.now()
	if t.state == Stale && t.sourceHeardSinceStale() {
		// Back in touch: catch up with what the broker holds now before
		// trusting the cache again.
		for p, e := range ends {
			t.targets[p] = e
		}
		t.setState(CatchingUp, "broker reachable again")
	}
	t.evaluate()
}

// Handled records that the message at offset of p was dealt with.
func (t *Tracker) Handled(p Partition, offset int64) {
	t.mu.Lock()
	defer t.unlock()
	before := t.positions[p]
	t.positions[p] = offset + 1
	t.lastContact = t.now()
	t.handledPosition(p, before, offset+1)
	if t.state == CatchingUp {
		t.evaluate()
	}
}

// Gap records that events of p may have been lost: the cache is flushed, so
// nothing cached before the gap survives it.
func (t *Tracker) Gap(p Partition, reason string) {
	t.mu.Lock()
	t.gaps++
	t.mu.Unlock()
	t.log.Warn("change feed gap: cache flushed", "topic", p.Topic, "partition", p.Partition, "reason", reason)
	t.cache.Flush()
	// Forgotten after the flush: a position proven in between would
	// vouch for entries the gap left stale.
	t.mu.Lock()
	t.forgetPositions()
	t.mu.Unlock()
}

// TopicMissing records that a configured topic does not exist.
func (t *Tracker) TopicMissing(topic string) {
	t.mu.Lock()
	defer t.unlock()
	t.missing[topic] = t.now()
}

// LastSign is when the feed last gave a sign of life: the older of the
// broker's last answer and, while they are expected, the source's last
// heartbeat. Answers the cache gives while the feed is lost are as old as
// this.
func (t *Tracker) LastSign() time.Time {
	t.mu.Lock()
	defer t.unlock()
	if t.heartbeats && t.lastHeartbeat.Before(t.lastContact) {
		return t.lastHeartbeat
	}
	return t.lastContact
}

// Tick checks the staleness bound; call it periodically.
func (t *Tracker) Tick() {
	t.mu.Lock()
	defer t.unlock()
	now := t.now()
	t.warnWithoutHeartbeats(now)
	if t.state == Stale || t.state == Starting {
		return
	}
	if silent := now.Sub(t.lastContact); silent > t.maxStaleness {
		t.setState(Stale, fmt.Sprintf("no broker contact for %s (max staleness %s)", silent.Round(time.Second), t.maxStaleness))
		return
	}
	if silent := t.sourceSilence(now); silent > t.maxStaleness {
		t.setState(Stale, fmt.Sprintf("no source heartbeat for %s (max staleness %s): the source (Debezium, gintoki relay) is stopped or stuck", silent.Round(time.Second), t.maxStaleness))
	}
}

// State returns the current state.
func (t *Tracker) State() State {
	t.mu.Lock()
	defer t.unlock()
	return t.state
}

// Gaps returns how many gaps were seen.
func (t *Tracker) Gaps() int {
	t.mu.Lock()
	defer t.unlock()
	return t.gaps
}

// Started returns nil once the feed has been live and the cache in use (the
// start gap is over, and stays over whatever happens to the feed later), or
// why not yet.
func (t *Tracker) Started() error {
	if t.usedOnce.Load() {
		return nil
	}
	return t.Ready()
}

// Ready returns nil when the feed is live, or why it is not.
func (t *Tracker) Ready() error {
	t.mu.Lock()
	defer t.unlock()
	if len(t.missing) > 0 {
		topics := make([]string, 0, len(t.missing))
		for topic := range t.missing {
			topics = append(topics, topic)
		}
		sort.Strings(topics)
		return fmt.Errorf("change feed: topic %v does not exist", topics)
	}
	switch t.state {
	case Live:
		if !t.cacheInUse.Load() {
			return fmt.Errorf("change feed: live; putting the cache to use")
		}
		return nil
	case Starting:
		return fmt.Errorf("change feed: waiting for partitions")
	case Stale:
		if silent := t.now().Sub(t.lastContact); silent > t.maxStaleness {
			return fmt.Errorf("change feed: broker unreachable for %s (max staleness %s); serving from the database",
				silent.Round(time.Second), t.maxStaleness)
		}
		if !t.sourceHeardSinceStale() {
			return fmt.Errorf("change feed: no source heartbeat for %s (max staleness %s); serving from the database",
				t.now().Sub(t.lastHeartbeat).Round(time.Second), t.maxStaleness)
		}
		return fmt.Errorf("change feed: stale; serving from the database until caught up")
	}
	behind := 0
	for _, p := range t.owned {
		if t.positions[p] < t.targets[p] {
			behind++
		}
	}
	if !t.complete {
		return fmt.Errorf("change feed: not every partition is owned yet")
	}
	return fmt.Errorf("change feed: catching up (%d of %d partitions behind)", behind, len(t.owned))
}

// evaluate goes live once every partition is owned and caught up. Callers
// hold t.mu.
func (t *Tracker) evaluate() {
	if t.state != CatchingUp || !t.complete || len(t.owned) == 0 {
		return
	}
	for _, p := range t.owned {
		if t.positions[p] < t.targets[p] {
			return
		}
	}
	t.setState(Live, "caught up with the end offsets")
}

func (t *Tracker) setState(s State, why string) {
	if t.state == s {
		return
	}
	from, now := t.state, t.now()
	t.state = s
	t.logTransition(from, s, why, now)
	switch s {
	case Live:
		if !t.beenLive {
			t.liveSince = now
		}
		t.beenLive = true
		t.pending = append(t.pending, true)
		t.provePositions()
	case Stale:
		t.staleSince = now
		t.forgetPositions()
		t.pending = append(t.pending, false)
	}
}

// unlock releases t.mu, then tells the cache what was decided under it, in
// the order decided. Turning the cache off may flush it (a bigcache reset
// of every shard), and no partition's Handled must wait behind that.
// applyMu is taken before t.mu is released, so the decisions of two callers
// reach the cache in the order the tracker took them.
func (t *Tracker) unlock() {
	usable := t.pending
	t.pending = nil
	if len(usable) == 0 {
		t.mu.Unlock()
		return
	}
	t.applyMu.Lock()
	t.mu.Unlock()
	defer t.applyMu.Unlock()
	for _, u := range usable {
		t.cache.SetCacheUsable(u)
		t.cacheInUse.Store(u)
		if u {
			t.usedOnce.Store(true)
		}
	}
}

// logTransition logs both ends of an outage at WARN, so a reader of
// warnings alone sees when the cache stopped being trusted, when it was
// again, and how long reads went to the database; the steps of a start are
// INFO. Callers hold t.mu.
func (t *Tracker) logTransition(from, to State, why string, now time.Time) {
	switch {
	case to == Stale:
		t.log.Warn("change feed stale: cache bypassed, reads go to the database",
			"from", from.String(), "why", why)
	case to == Live && !t.staleSince.IsZero():
		t.log.Warn("change feed live again: cache in use", "from", from.String(), "why", why,
			"bypassed_for", now.Sub(t.staleSince).Round(time.Millisecond))
	default:
		t.log.Info("change feed state", "from", from.String(), "to", to.String(), "why", why)
	}
}
