package changefeed

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// The applied position: how far the cache reflects the database, for reads
// that must reflect a client's write (usecase/inventory/readafter.go).
//
// A source that says how far it has published (gintoki relay's heartbeats:
// every change of every transaction up to a GTID position lies below given
// offsets of the change topics) lets the node prove it: once every
// partition of the table topics it owns has been handled up to those
// offsets, it has applied every transaction up to that position. Positions
// are kept pending in arrival order and proven oldest first; the node's
// applied position is the union of those proven, since each was true when
// proven and the cache only moves forward from there.
//
// A position that does not name every owned table partition, or names one
// this node does not own, proves nothing: another partition may hold
// changes it does not account for. What the cache held is no longer
// vouched for after a gap, a flush, a session that starts elsewhere than
// the last one left off, or the feed going stale: the applied position is
// then forgotten until a new one is proven.

// maxPending bounds the positions waiting to be proven. A node far behind
// drops the oldest: a later position covers as much and more, at offsets
// at least as far.
const maxPending = 4096

// WithPositions turns the applied position on: tables are the change
// topics whose partitions a position must name, the table topics the
// consumer applies (not the heartbeat or control topics).
func WithPositions(tables ...string) Option {
	return func(t *Tracker) {
		t.pos.tables = make(map[string]bool, len(tables))
		for _, topic := range tables {
			if topic != "" {
				t.pos.tables[topic] = true
			}
		}
	}
}

type pendingPosition struct {
	pos     domain.SourcePos
	offsets map[Partition]int64
	at      time.Time // when the source sent it
}

// positions is the tracker's applied-position state; guarded by the
// tracker's mu, except that applied is also read without it.
type positions struct {
	tables  map[string]bool // nil: off
	pending []pendingPosition
	// applied is read on every token read, so without the lock; it is
	// only written under it. appliedAt is when the source sent the
	// position last proven.
	applied   atomicPos
	appliedAt time.Time
	// changed is closed, and replaced, whenever applied moves.
	changed      chan struct{}
	lastReported time.Time
}

// Position records that the source has published every change of every
// transaction pos covers below offsets (per partition, the offset after
// the last such message), as of at.
func (t *Tracker) Position(pos domain.SourcePos, offsets map[Partition]int64, at time.Time) {
	t.mu.Lock()
	defer t.unlock()
	if t.pos.tables == nil || len(pos) == 0 {
		return
	}
	t.pos.lastReported = t.now()
	rec := pendingPosition{pos: pos, offsets: make(map[Partition]int64, len(offsets)), at: at}
	for p, off := range offsets {
		if t.pos.tables[p.Topic] {
			rec.offsets[p] = off
		}
	}
	if len(t.pos.pending) >= maxPending {
		t.pos.pending = t.pos.pending[1:]
	}
	t.pos.pending = append(t.pos.pending, rec)
	t.provePositions()
}

// Applied implements inventory.FeedPosition: the position up to which the
// cache reflects every transaction; nil when none is proven.
func (t *Tracker) Applied() domain.SourcePos { return t.pos.applied.load() }

// WaitApplied implements inventory.FeedPosition: true once Applied covers
// want, false when ctx ends first. It waits on a broadcast, not a poll.
func (t *Tracker) WaitApplied(ctx context.Context, want domain.SourcePos) bool {
	for {
		t.mu.Lock()
		ok, changed := coversAll(t.pos.applied.load(), want), t.positionChanged()
		t.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// PositionsReported reports whether the source's heartbeats carry
// positions: one arrived within the staleness bound.
func (t *Tracker) PositionsReported() bool {
	t.mu.Lock()
	defer t.unlock()
	return !t.pos.lastReported.IsZero() && t.now().Sub(t.pos.lastReported) <= t.maxStaleness
}

// AppliedAge is how long ago the source sent the position now proven
// applied; ok is false when none is.
func (t *Tracker) AppliedAge() (age time.Duration, ok bool) {
	t.mu.Lock()
	defer t.unlock()
	if t.pos.applied.load() == nil {
		return 0, false
	}
	return t.now().Sub(t.pos.appliedAt), true
}

// Flushed records that the cache was flushed by a command (a fleet-wide
// flush): whatever was proven of it is forgotten.
func (t *Tracker) Flushed() {
	t.mu.Lock()
	defer t.unlock()
	t.forgetPositions()
}

// positionChanged is the channel closed at the next move of the applied
// position. Callers hold t.mu.
func (t *Tracker) positionChanged() <-chan struct{} {
	if t.pos.changed == nil {
		t.pos.changed = make(chan struct{})
	}
	return t.pos.changed
}

func (t *Tracker) broadcastPosition() {
	if t.pos.changed != nil {
		close(t.pos.changed)
		t.pos.changed = nil
	}
}

// provePositions takes the pending positions the owned partitions have
// reached, oldest first, into the applied position. Callers hold t.mu.
func (t *Tracker) provePositions() {
	if t.state != Live || !t.complete {
		return
	}
	applied, moved := t.pos.applied.load(), false
	for len(t.pos.pending) > 0 && t.reached(t.pos.pending[0].offsets) {
		rec := t.pos.pending[0]
		t.pos.pending = t.pos.pending[1:]
		applied, moved = union(applied, rec.pos), true
		t.pos.appliedAt = rec.at
	}
	if moved {
		t.pos.applied.store(applied)
		t.broadcastPosition()
	}
}

// reached reports whether offsets name exactly the owned table partitions
// and each has been handled up to its offset. Callers hold t.mu.
func (t *Tracker) reached(offsets map[Partition]int64) bool {
	named := 0
	for _, p := range t.owned {
		if !t.pos.tables[p.Topic] {
			continue
		}
		need, ok := offsets[p]
		if !ok || t.positions[p] < need {
			return false
		}
		named++
	}
	return named > 0 && named == len(offsets)
}

// handledPosition re-proves the pending positions when the handled message
// took p to the offset the oldest of them waits for; any other message
// costs a map lookup. Callers hold t.mu.
func (t *Tracker) handledPosition(p Partition, before, after int64) {
	if len(t.pos.pending) == 0 || !t.pos.tables[p.Topic] {
		return
	}
	if need, ok := t.pos.pending[0].offsets[p]; ok && before < need && after >= need {
		t.provePositions()
	}
}

// sessionPositions forgets the applied position when a table partition of
// the new session starts elsewhere than where this process left it: a
// partition new to it, or one moved. Callers hold t.mu, before the
// positions take the starts.
func (t *Tracker) sessionPositions(assigned []Partition, starts map[Partition]int64) {
	if t.pos.tables == nil {
		return
	}
	for _, p := range assigned {
		if !t.pos.tables[p.Topic] {
			continue
		}
		was, known := t.positions[p]
		if s, ok := starts[p]; !known || !ok || s != was {
			t.forgetPositions()
			return
		}
	}
}

// forgetPositions drops the applied position and the pending ones. Callers
// hold t.mu.
func (t *Tracker) forgetPositions() {
	t.pos.pending = nil
	if t.pos.applied.load() != nil {
		t.pos.applied.store(nil)
		t.broadcastPosition()
	}
}

// union is, per source, the higher of a's and b's sequences.
func union(a, b domain.SourcePos) domain.SourcePos {
	out := append(domain.SourcePos(nil), a...)
	for _, g := range b {
		merged := false
		for i := range out {
			if out[i].Source == g.Source {
				out[i].Seq = max(out[i].Seq, g.Seq)
				merged = true
			}
		}
		if !merged {
			out = append(out, g)
		}
	}
	return out
}

// coversAll reports whether p covers every transaction of want; nothing
// covers an empty want's absence of a bound, so that is false.
func coversAll(p, want domain.SourcePos) bool {
	if len(p) == 0 || len(want) == 0 {
		return false
	}
	for _, g := range want {
		if !p.Covers(g) {
			return false
		}
	}
	return true
}

// atomicPos holds a position readers load without a lock; a stored
// position is never changed afterwards (union makes a new one).
type atomicPos struct {
	p atomic.Pointer[domain.SourcePos]
}

func (a *atomicPos) load() domain.SourcePos {
	if v := a.p.Load(); v != nil {
		return *v
	}
	return nil
}

func (a *atomicPos) store(p domain.SourcePos) {
	if p == nil {
		a.p.Store(nil)
		return
	}
	a.p.Store(&p)
}
