package relay_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

var (
	stockTable = &relay.Table{DB: "shop", Name: "stock_items",
		Columns: []relay.Column{{Name: "product_id", Type: "bigint"}, {Name: "warehouse_id", Type: "bigint"}, {Name: "qty_salable", Type: "int"}},
		Key:     []int{0, 1}}
	warehouseTable = &relay.Table{DB: "shop", Name: "warehouses",
		Columns: []relay.Column{{Name: "id", Type: "bigint"}, {Name: "code", Type: "varchar"}},
		Key:     []int{0}}
)

func row(vals ...any) relay.Row {
	r := make(relay.Row, len(vals))
	for i, v := range vals {
		r[i] = []byte(fmt.Sprint(v))
	}
	return r
}

func pos(p uint64) relay.Position { return relay.Position{File: "bin.000001", Pos: p} }

// insert is a streamed stock insert of product p at position at.
func insert(p int, at uint64) relay.Item {
	return relay.Item{Kind: relay.ItemChange, Time: time.Unix(1000, 0), Change: &relay.Change{
		Table: stockTable, Op: domain.OpCreate, After: row(p, 1, p), At: pos(at),
	}}
}

func commit(at uint64) relay.Item {
	return relay.Item{Kind: relay.ItemCommit, Resume: pos(at), Time: time.Unix(1000, 0)}
}

var streaming = relay.Item{Kind: relay.ItemStreaming}

// heartbeat is the server saying it had nothing newer at second sec.
func heartbeat(sec int64) relay.Item {
	return relay.Item{Kind: relay.ItemHeartbeat, Time: time.Unix(sec, 0)}
}

// session is one Stream call's behaviour: emit items, then return err,
// or wait for the context when block is set.
type session struct {
	items []relay.Item
	err   error
	block bool
}

type fakeSource struct {
	mu        sync.Mutex
	checkErrs []error // one per Check call, then nil
	checks    int
	current   relay.Position
	binlogs   map[string]bool
	snapRows  []*relay.Change
	snapPos   relay.Position
	snapErrs  []error // one per Snapshot call, then nil
	snapshots int
	sessions  []session
	froms     []relay.Position
}

func (s *fakeSource) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	if len(s.checkErrs) > 0 {
		err := s.checkErrs[0]
		s.checkErrs = s.checkErrs[1:]
		return err
	}
	return nil
}

func (s *fakeSource) Current(context.Context) (relay.Position, error) { return s.current, nil }

func (s *fakeSource) HasBinlog(_ context.Context, file string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.binlogs[file], nil
}

func (s *fakeSource) Snapshot(ctx context.Context, emit func(*relay.Change) error) (relay.Position, error) {
	s.mu.Lock()
	s.snapshots++
	var err error
	if len(s.snapErrs) > 0 {
		err, s.snapErrs = s.snapErrs[0], s.snapErrs[1:]
	}
	rows := s.snapRows
	s.mu.Unlock()
	for i, r := range rows {
		if err != nil && i == len(rows)/2 {
			return relay.Position{}, err
		}
		c := *r
		c.At = s.snapPos
		if e := emit(&c); e != nil {
			return relay.Position{}, e
		}
	}
	return s.snapPos, nil
}

func (s *fakeSource) Stream(ctx context.Context, from relay.Position, emit func(relay.Item) error) error {
	s.mu.Lock()
	s.froms = append(s.froms, from)
	var sess session
	if len(s.sessions) > 0 {
		sess, s.sessions = s.sessions[0], s.sessions[1:]
	} else {
		sess = session{block: true}
	}
	s.mu.Unlock()
	for _, it := range sess.items {
		if err := emit(it); err != nil {
			return err
		}
	}
	if sess.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return sess.err
}

func (s *fakeSource) streamedFrom() []relay.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]relay.Position(nil), s.froms...)
}

// fakePublisher records published changes; fail decides per call. Like
// Kafka it gives every message an offset in its partition: a table's
// topic, partitioned by the row's first key column (even, odd).
type fakePublisher struct {
	mu      sync.Mutex
	batches [][]*relay.Change
	fail    func(call int, batch []*relay.Change) error
	calls   int
	beats   []time.Time
	// ends are the partitions' end offsets before this relay wrote, as
	// earlier relays left them; endErrs fail EndOffsets calls first.
	ends    relay.Offsets
	endErrs []error
	// prepareErrs fail Prepare calls first; prepared counts those that
	// succeeded, unprepared the batches published before one did.
	prepareErrs []error
	prepared    int
	unprepared  int
	// next is each partition's next offset; placed, every change
	// acknowledged and where it went; records, the progress of each
	// heartbeat with the number of changes acknowledged when it was sent.
	next    relay.Offsets
	placed  []placedChange
	records []sentRecord
}

type placedChange struct {
	c      *relay.Change
	at     relay.TopicPartition
	offset int64
}

type sentRecord struct {
	prog  relay.Progress
	acked int // changes acknowledged before it was sent
}

func partitionOf(c *relay.Change) relay.TopicPartition {
	img := c.After
	if img == nil {
		img = c.Before
	}
	n := 0
	if len(img) > 0 && len(img[0]) > 0 {
		n = int(img[0][len(img[0])-1]-'0') % 2
	}
	return relay.TopicPartition{Topic: c.Table.Name, Partition: int32(n)}
}

func (p *fakePublisher) Prepare(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.prepareErrs) > 0 {
		err := p.prepareErrs[0]
		p.prepareErrs = p.prepareErrs[1:]
		return err
	}
	p.prepared++
	return nil
}

func (p *fakePublisher) Publish(_ context.Context, batch []*relay.Change) (relay.Offsets, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.prepared == 0 {
		p.unprepared++
	}
	if p.fail != nil {
		if err := p.fail(p.calls, batch); err != nil {
			return nil, err
		}
	}
	if p.next == nil {
		p.next = relay.Offsets{}
		for tp, o := range p.ends {
			p.next[tp] = o
		}
	}
	p.batches = append(p.batches, append([]*relay.Change(nil), batch...))
	written := relay.Offsets{}
	for _, c := range batch {
		tp := partitionOf(c)
		p.placed = append(p.placed, placedChange{c: c, at: tp, offset: p.next[tp]})
		p.next[tp]++
		written[tp] = p.next[tp]
	}
	return written, nil
}

func (p *fakePublisher) Heartbeat(_ context.Context, at time.Time, prog *relay.Progress) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beats = append(p.beats, at)
	if prog != nil {
		p.records = append(p.records, sentRecord{prog: *prog, acked: len(p.placed)})
	}
	return nil
}

func (p *fakePublisher) EndOffsets(context.Context) (relay.Offsets, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.endErrs) > 0 {
		err := p.endErrs[0]
		p.endErrs = p.endErrs[1:]
		return nil, err
	}
	out := relay.Offsets{}
	for tp, o := range p.ends {
		out[tp] = o
	}
	for tp, o := range p.next {
		out[tp] = o
	}
	return out, nil
}

func (p *fakePublisher) progress() ([]sentRecord, []placedChange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.records), slices.Clone(p.placed)
}

func (p *fakePublisher) heartbeats() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.beats)
}

func (p *fakePublisher) published() []*relay.Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*relay.Change
	for _, b := range p.batches {
		out = append(out, b...)
	}
	return out
}

type fakeStore struct {
	mu      sync.Mutex
	cp      *relay.Checkpoint
	saves   []relay.Position
	loadErr []error
	saveErr func(relay.Position) error
	// onSave sees each saved position before it is stored.
	onSave func(relay.Position)
}

func (s *fakeStore) Load(context.Context) (relay.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loadErr) > 0 {
		err := s.loadErr[0]
		s.loadErr = s.loadErr[1:]
		return relay.Checkpoint{}, false, err
	}
	if s.cp == nil {
		return relay.Checkpoint{}, false, nil
	}
	return *s.cp, true, nil
}

func (s *fakeStore) Save(_ context.Context, cp relay.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		if err := s.saveErr(cp.Position); err != nil {
			return err
		}
	}
	if s.onSave != nil {
		s.onSave(cp.Position)
	}
	s.cp = &cp
	s.saves = append(s.saves, cp.Position)
	return nil
}

func (s *fakeStore) saved() []relay.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]relay.Position(nil), s.saves...)
}

func (s *fakeStore) last() relay.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		return relay.Position{}
	}
	return s.cp.Position
}

type fakeMetrics struct {
	mu        sync.Mutex
	published map[string]int
	failed    map[string]int
	acked     []relay.Position
	caughtUp  []time.Time
	states    []relay.State
	saved     int
	beats     int
	stopped   []relay.StopReason
}

func newFakeMetrics() *fakeMetrics {
	return &fakeMetrics{published: map[string]int{}, failed: map[string]int{}}
}

func (m *fakeMetrics) Published(table string, op domain.Op) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published[table+"/"+op.String()]++
}

func (m *fakeMetrics) Acknowledged(p relay.Position, caughtUp time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acked = append(m.acked, p)
	if !caughtUp.IsZero() {
		m.caughtUp = append(m.caughtUp, caughtUp)
	}
}

func (m *fakeMetrics) caughtUpTimes() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.caughtUp)
}

func (m *fakeMetrics) Checkpointed(relay.Checkpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saved++
}

func (m *fakeMetrics) Failed(stage string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed[stage]++
}

func (m *fakeMetrics) StateChanged(s relay.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states = append(m.states, s)
}

func (m *fakeMetrics) HeartbeatSent() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beats++
}

func (m *fakeMetrics) Stopped(reason relay.StopReason) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = append(m.stopped, reason)
}

func (m *fakeMetrics) stops() []relay.StopReason {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.stopped)
}

func (m *fakeMetrics) failures(stage string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed[stage]
}

var errBroken = errors.New("connection reset")
