package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// Guards against a hang only.
const deadline = 10 * time.Second

func quickConfig(mode relay.SnapshotMode) relay.Config {
	return relay.Config{Snapshot: mode, MaxBatch: 100, CheckpointEvery: 2 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond}
}

type harness struct {
	t     *testing.T
	src   *fakeSource
	pub   *fakePublisher
	store *fakeStore
	m     *fakeMetrics
	r     *relay.Relay
	done  chan error
	stop  context.CancelFunc
}

func start(t *testing.T, cfg relay.Config, src *fakeSource, pub *fakePublisher, store *fakeStore) *harness {
	t.Helper()
	h := &harness{t: t, src: src, pub: pub, store: store, m: newFakeMetrics(), done: make(chan error, 1)}
	r, err := relay.New(cfg, src, pub, store, h.m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(deadline):
			t.Error("relay did not stop")
		}
	})
	return h
}

// finish stops the relay and returns what Run returned.
func (h *harness) finish() error {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(deadline):
		h.t.Fatal("relay did not stop")
		return nil
	}
}

// ended waits for Run to return by itself.
func (h *harness) ended() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(deadline):
		h.t.Fatal("relay did not end")
		return nil
	}
}

func products(cs []*relay.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		img := c.After
		if img == nil {
			img = c.Before
		}
		out[i] = string(rune(c.Op)) + string(img[0])
	}
	return out
}

func TestInitialSnapshotThenStream(t *testing.T) {
	src := &fakeSource{
		snapRows: []*relay.Change{
			{Table: stockTable, Op: domain.OpRead, After: row(1, 1, 5)},
			{Table: stockTable, Op: domain.OpRead, After: row(2, 1, 6)},
			{Table: warehouseTable, Op: domain.OpRead, After: row(1, "W1")},
			{Table: warehouseTable, Op: domain.OpRead, After: row(2, "W2")},
		},
		snapPos:  pos(100),
		sessions: []session{{items: []relay.Item{streaming, insert(5, 110), commit(120)}, block: true}},
	}
	pub, store := &fakePublisher{}, &fakeStore{}
	h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "streamed insert checkpointed", func() bool { return store.last() == pos(120) })

	got := pub.published()
	if want := []string{"r1", "r2", "r1", "r2", "c5"}; !slices.Equal(products(got), want) {
		t.Fatalf("published %v, want %v", products(got), want)
	}
	marks := []string{"first", "last_in_data_collection", "first_in_data_collection", "last"}
	for i, m := range marks {
		if got[i].Snapshot != m || got[i].At != pos(100) {
			t.Errorf("snapshot row %d: marker %q at %s, want %q at %s", i, got[i].Snapshot, got[i].At, m, pos(100))
		}
	}
	if got[4].Snapshot != "" {
		t.Errorf("streamed change marked %q", got[4].Snapshot)
	}
	if froms := src.streamedFrom(); len(froms) != 1 || froms[0] != pos(100) {
		t.Errorf("streamed from %v, want the snapshot's position", froms)
	}
	if saves := store.saved(); saves[0] != pos(100) {
		t.Errorf("first checkpoint %v, want the snapshot position", saves[0])
	}
	if err := h.r.Ready(); err != nil {
		t.Errorf("Ready while streaming: %v", err)
	}
	if h.m.published["shop.stock_items/r"] != 2 || h.m.published["shop.warehouses/r"] != 2 || h.m.published["shop.stock_items/c"] != 1 {
		t.Errorf("metrics published %v", h.m.published)
	}
	if err := h.finish(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := h.r.Ready(); err == nil {
		t.Error("Ready after stop")
	}
}

func TestSnapshotMarkers(t *testing.T) {
	cases := []struct {
		name  string
		rows  []*relay.Change
		marks []string
	}{
		{"one row", []*relay.Change{{Table: stockTable, After: row(1, 1, 1)}}, []string{"last"}},
		{"one table", []*relay.Change{
			{Table: stockTable, After: row(1, 1, 1)}, {Table: stockTable, After: row(2, 1, 1)}, {Table: stockTable, After: row(3, 1, 1)},
		}, []string{"first", "true", "last"}},
		{"one row per table", []*relay.Change{
			{Table: stockTable, After: row(1, 1, 1)}, {Table: warehouseTable, After: row(1, "W")},
		}, []string{"first", "last"}},
		{"three tables", []*relay.Change{
			{Table: stockTable, After: row(1, 1, 1)}, {Table: stockTable, After: row(2, 1, 1)},
			{Table: warehouseTable, After: row(1, "W")}, {Table: warehouseTable, After: row(2, "W")}, {Table: warehouseTable, After: row(3, "W")},
			{Table: &relay.Table{DB: "shop", Name: "other", Key: []int{0}}, After: row(9)},
		}, []string{"first", "last_in_data_collection", "first_in_data_collection", "true", "last_in_data_collection", "last"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.rows {
				c.Op = domain.OpRead
			}
			src := &fakeSource{snapRows: tc.rows, snapPos: pos(7)}
			pub, store := &fakePublisher{}, &fakeStore{}
			start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
			polltest.Until(t, deadline, "snapshot checkpoint", func() bool { return store.last() == pos(7) })
			var got []string
			for _, c := range pub.published() {
				got = append(got, c.Snapshot)
			}
			if !slices.Equal(got, tc.marks) {
				t.Fatalf("markers %v, want %v", got, tc.marks)
			}
		})
	}
}

func TestSnapshotNeverStartsAtTheBinlogEndAndSavesItAtOnce(t *testing.T) {
	src := &fakeSource{current: pos(500)}
	store := &fakeStore{}
	h := start(t, quickConfig(relay.SnapshotNever), src, &fakePublisher{}, store)
	polltest.Until(t, deadline, "stream started", func() bool { return len(src.streamedFrom()) == 1 })
	if from := src.streamedFrom()[0]; from != pos(500) {
		t.Errorf("streamed from %s, want the binlog end %s", from, pos(500))
	}
	// Saved before streaming: a crash right now must not move the start
	// to a later end of the binlog.
	if saves := store.saved(); len(saves) == 0 || saves[0] != pos(500) {
		t.Errorf("checkpoints %v, want %s saved first", saves, pos(500))
	}
	if src.snapshots != 0 {
		t.Errorf("took %d snapshots with --snapshot=never", src.snapshots)
	}
	_ = h.finish()
}

func TestResumesFromTheCheckpoint(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(300)}}
	start(t, quickConfig(relay.SnapshotInitial), src, &fakePublisher{}, store)
	polltest.Until(t, deadline, "stream started", func() bool { return len(src.streamedFrom()) == 1 })
	if from := src.streamedFrom()[0]; from != pos(300) || src.snapshots != 0 {
		t.Errorf("streamed from %s after %d snapshots; want the checkpoint and none", from, src.snapshots)
	}
}

func TestPurgedCheckpoint(t *testing.T) {
	for _, mode := range []relay.SnapshotMode{relay.SnapshotInitial, relay.SnapshotNever} {
		t.Run(string(mode)+" stops", func(t *testing.T) {
			src := &fakeSource{binlogs: map[string]bool{}}
			store := &fakeStore{cp: &relay.Checkpoint{Position: pos(300)}}
			h := start(t, quickConfig(mode), src, &fakePublisher{}, store)
			err := h.ended()
			var purged *relay.PurgedError
			if !errors.As(err, &purged) || purged.File != "bin.000001" {
				t.Fatalf("Run: %v; want a PurgedError naming bin.000001", err)
			}
			if len(src.streamedFrom()) != 0 || src.snapshots != 0 {
				t.Error("streamed or snapshotted past a purged checkpoint")
			}
		})
	}
	t.Run("when_needed snapshots again", func(t *testing.T) {
		src := &fakeSource{binlogs: map[string]bool{}, snapRows: []*relay.Change{{Table: stockTable, Op: domain.OpRead, After: row(1, 1, 1)}}, snapPos: pos(900)}
		store := &fakeStore{cp: &relay.Checkpoint{Position: pos(300)}}
		start(t, quickConfig(relay.SnapshotWhenNeeded), src, &fakePublisher{}, store)
		polltest.Until(t, deadline, "stream started", func() bool { return len(src.streamedFrom()) == 1 })
		if from := src.streamedFrom()[0]; from != pos(900) || store.last() != pos(900) {
			t.Errorf("streamed from %s with checkpoint %s; want the new snapshot's %s", from, store.last(), pos(900))
		}
	})
	t.Run("purged while streaming, when_needed", func(t *testing.T) {
		src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, snapPos: pos(950),
			sessions: []session{{err: &relay.PurgedError{File: "bin.000001"}}}}
		store := &fakeStore{cp: &relay.Checkpoint{Position: pos(300)}}
		start(t, quickConfig(relay.SnapshotWhenNeeded), src, &fakePublisher{}, store)
		polltest.Until(t, deadline, "second stream", func() bool { return len(src.streamedFrom()) == 2 })
		if from := src.streamedFrom()[1]; from != pos(950) || src.snapshots != 1 {
			t.Errorf("after the purge streamed from %s with %d snapshots", from, src.snapshots)
		}
	})
}

// TestCheckpointNeverRunsAheadOfKafka: every saved position has all
// changes before it acknowledged, and lies on a transaction boundary.
func TestCheckpointNeverRunsAheadOfKafka(t *testing.T) {
	items := []relay.Item{streaming}
	commits := map[uint64]bool{}
	at := uint64(10)
	for tx := 0; tx < 40; tx++ {
		for r := 0; r <= tx%3; r++ {
			items = append(items, insert(int(at), at))
			at++
		}
		items = append(items, commit(at))
		commits[at] = true
		at++
	}
	items = append(items, insert(int(at), at)) // a transaction not yet committed
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: items, block: true}}}
	pub := &fakePublisher{}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	var violations []string
	store.onSave = func(p relay.Position) {
		if p == pos(5) {
			return
		}
		if !commits[p.Pos] {
			violations = append(violations, fmt.Sprintf("%s is not a transaction end", p))
		}
		acked := map[uint64]bool{}
		for _, c := range pub.published() {
			acked[c.At.Pos] = true
		}
		for _, it := range items {
			if it.Kind == relay.ItemChange && it.Change.At.Pos < p.Pos && !acked[it.Change.At.Pos] {
				violations = append(violations, fmt.Sprintf("checkpoint %s before change at %d was acknowledged", p, it.Change.At.Pos))
			}
		}
	}
	cfg := quickConfig(relay.SnapshotInitial)
	cfg.MaxBatch = 2
	h := start(t, cfg, src, pub, store)
	polltest.Until(t, deadline, "all published", func() bool { return len(pub.published()) == len(items)-len(commits)-1 })
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(violations), violations[0])
	}
	if last := store.cp.Position; last != pos(at-1) {
		t.Errorf("final checkpoint %s, want the last commit %s (not inside the open transaction)", last, pos(at-1))
	}
}

// TestKafkaFailureResendsFromTheLastAcknowledgedTransaction: a failed
// publish ends the session; the next one starts at the last transaction
// end Kafka had everything before, so nothing is lost and the partly
// published transaction is sent again.
func TestKafkaFailureResendsFromTheLastAcknowledgedTransaction(t *testing.T) {
	src := &fakeSource{
		binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{
			{items: []relay.Item{streaming, insert(1, 10), commit(20), insert(2, 21), insert(3, 22), commit(30)}, block: true},
			{items: []relay.Item{streaming, insert(2, 21), insert(3, 22), commit(30), insert(4, 31), commit(40)}, block: true},
		},
	}
	failed := false
	pub := &fakePublisher{fail: func(_ int, batch []*relay.Change) error {
		for _, c := range batch {
			if string(c.After[0]) == "3" && !failed {
				failed = true
				return errBroken
			}
		}
		return nil
	}}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	cfg := quickConfig(relay.SnapshotInitial)
	cfg.MaxBatch = 1
	h := start(t, cfg, src, pub, store)
	polltest.Until(t, deadline, "checkpoint after the retry", func() bool { return store.last() == pos(40) })
	froms := src.streamedFrom()
	if len(froms) != 2 || froms[1] != pos(20) {
		t.Fatalf("sessions started at %v; want the second at the last acknowledged commit %s", froms, pos(20))
	}
	if got, want := products(pub.published()), []string{"c1", "c2", "c2", "c3", "c4"}; !slices.Equal(got, want) {
		t.Errorf("published %v, want %v (2 twice: at least once)", got, want)
	}
	if h.m.failures(relay.StageKafka) != 1 {
		t.Errorf("kafka failures counted %d, want 1", h.m.failures(relay.StageKafka))
	}
}

// The change topics are prepared before anything is published, and a
// failure to prepare them (Kafka away, no CREATE right) is retried like a
// publish, counted as a Kafka failure.
func TestChangeTopicsArePreparedBeforePublishing(t *testing.T) {
	src := &fakeSource{
		snapRows: []*relay.Change{{Table: stockTable, Op: domain.OpRead, After: row(1, 1, 5)}},
		snapPos:  pos(100),
		sessions: []session{{items: []relay.Item{streaming, insert(5, 110), commit(120)}, block: true}},
	}
	pub := &fakePublisher{prepareErrs: []error{errBroken, errBroken}}
	store := &fakeStore{}
	h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "streamed insert checkpointed", func() bool { return store.last() == pos(120) })
	pub.mu.Lock()
	prepared, unprepared := pub.prepared, pub.unprepared
	pub.mu.Unlock()
	if prepared != 1 || unprepared != 0 {
		t.Errorf("prepared %d times, %d batches published before; want once, before every batch", prepared, unprepared)
	}
	if got := h.m.failures(relay.StageKafka); got != 2 {
		t.Errorf("kafka failures counted %d, want the 2 failed preparations", got)
	}
	if got, want := products(pub.published()), []string{"r1", "c5"}; !slices.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}

func TestSourceFailureReconnectsWithBackoff(t *testing.T) {
	src := &fakeSource{
		binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{
			{items: []relay.Item{streaming, insert(1, 10), commit(20)}, err: errBroken},
			{err: errBroken},
			{items: []relay.Item{streaming, insert(2, 30), commit(40)}, block: true},
		},
	}
	pub, store := &fakePublisher{}, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "third session checkpointed", func() bool { return store.last() == pos(40) })
	if froms := src.streamedFrom(); !slices.Equal(froms, []relay.Position{pos(5), pos(20), pos(20)}) {
		t.Errorf("sessions started at %v", froms)
	}
	if n := h.m.failures(relay.StageMySQL); n != 2 {
		t.Errorf("mysql failures counted %d, want 2", n)
	}
	h.m.mu.Lock()
	states := slices.Clone(h.m.states)
	h.m.mu.Unlock()
	if i := slices.Index(states, relay.StateReconnecting); i < 0 || !slices.Contains(states[i:], relay.StateStreaming) {
		t.Errorf("states %v; want reconnecting, then streaming again", states)
	}
}

// TestCaughtUpFollowsChangesAndHeartbeats: the time the relay reports
// itself caught up to advances with the changes Kafka acknowledged and with
// heartbeats heard after them (alone, on an idle database, too), so lag
// stays small while the binlog is read.
func TestCaughtUpFollowsChangesAndHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []relay.Item
		acked relay.Position
	}{
		{"heartbeats alone", []relay.Item{streaming, heartbeat(1005), heartbeat(1010)}, pos(5)},
		{"after a change", []relay.Item{streaming, insert(1, 10), commit(20), heartbeat(1005), heartbeat(1010)}, pos(20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: tc.items, block: true}}}
			pub, store := &fakePublisher{}, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
			h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
			polltest.Until(t, deadline, "the last heartbeat acknowledged", func() bool {
				got := h.m.caughtUpTimes()
				return len(got) > 0 && got[len(got)-1].Equal(time.Unix(1010, 0))
			})
			if got := h.m.caughtUpTimes(); !slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }) {
				t.Errorf("caught-up times %v go backwards", got)
			}
			if h.r.Acknowledged() != tc.acked {
				t.Errorf("acknowledged %s, want %s: heartbeats do not move the position", h.r.Acknowledged(), tc.acked)
			}
		})
	}
}

// TestHeartbeatBehindAnUnpublishedChangeIsNotCaughtUp: while Kafka refuses
// the changes before a heartbeat, the heartbeat says nothing about what the
// consumers have, so it must not report the relay caught up.
func TestHeartbeatBehindAnUnpublishedChangeIsNotCaughtUp(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{
			{items: []relay.Item{streaming, insert(1, 10), heartbeat(1005)}, block: true},
			{items: []relay.Item{streaming, insert(1, 10), commit(20)}, block: true},
		}}
	pub := &fakePublisher{fail: func(call int, _ []*relay.Change) error {
		if call == 1 {
			return errBroken
		}
		return nil
	}}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "the retry acknowledged", func() bool { return h.r.Acknowledged() == pos(20) })
	for _, at := range h.m.caughtUpTimes() {
		if at.Equal(time.Unix(1005, 0)) {
			t.Fatalf("caught-up times %v include the heartbeat behind the refused change", h.m.caughtUpTimes())
		}
	}
}

func TestPermanentErrorStopsTheRelay(t *testing.T) {
	src := &fakeSource{
		binlogs:  map[string]bool{"bin.000001": true},
		sessions: []session{{items: []relay.Item{streaming, insert(1, 10), commit(20)}, err: relay.Permanent(relay.StopUnsupported, errors.New("column x has type enum"))}},
	}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, &fakePublisher{}, store)
	err := h.ended()
	if err == nil || !strings.Contains(err.Error(), "type enum") || !relay.IsPermanent(err) {
		t.Fatalf("Run: %v", err)
	}
	if store.last() != pos(20) {
		t.Errorf("checkpoint %s at exit, want the acknowledged %s", store.last(), pos(20))
	}
	if len(src.streamedFrom()) != 1 {
		t.Errorf("retried a permanent error")
	}
	// Stopped for good, and saying why wherever one looks.
	if reason, halted := h.r.Halted(); reason != relay.StopUnsupported || !errors.Is(halted, err) {
		t.Errorf("Halted: %s %v; want unsupported with the error Run returned", reason, halted)
	}
	if ready := h.r.Ready(); ready == nil || !strings.Contains(ready.Error(), "stopped for good (unsupported)") || !strings.Contains(ready.Error(), "type enum") {
		t.Errorf("Ready: %v; want the reason and the error", ready)
	}
	if got := h.m.stops(); !slices.Equal(got, []relay.StopReason{relay.StopUnsupported}) {
		t.Errorf("Metrics.Stopped calls %v; want one with unsupported", got)
	}
	if h.r.State() != relay.StateStopped {
		t.Errorf("state %s, want stopped", h.r.State())
	}
}

// TestGracefulStopIsNotAHalt: a relay stopped by its context is stopped,
// not stopped for good.
func TestGracefulStopIsNotAHalt(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{streaming}, block: true}}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, &fakePublisher{}, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "streaming", func() bool { return h.r.Ready() == nil })
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	if _, halted := h.r.Halted(); halted != nil || len(h.m.stops()) != 0 {
		t.Errorf("halted %v, stops %v after a graceful stop; want none", halted, h.m.stops())
	}
	if ready := h.r.Ready(); ready == nil || ready.Error() != "relay is stopped" {
		t.Errorf("Ready after a graceful stop: %v", ready)
	}
}

func TestGracefulStopSavesTheLastPosition(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{{items: []relay.Item{streaming, insert(1, 10), commit(20), insert(2, 21), commit(30)}, block: true}}}
	pub, store := &fakePublisher{}, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	cfg := quickConfig(relay.SnapshotInitial)
	cfg.CheckpointEvery = time.Hour
	h := start(t, cfg, src, pub, store)
	polltest.Until(t, deadline, "acknowledged", func() bool { return h.r.Acknowledged() == pos(30) })
	if store.last() != pos(5) {
		t.Fatalf("checkpoint %s before the interval; the test needs none", store.last())
	}
	if err := h.finish(); err != nil {
		t.Fatal(err)
	}
	if store.last() != pos(30) {
		t.Errorf("checkpoint after a graceful stop %s, want %s", store.last(), pos(30))
	}
}

func TestUpdateChangingThePrimaryKeyBecomesDeleteAndCreate(t *testing.T) {
	move := &relay.Change{Table: stockTable, Op: domain.OpUpdate, Before: row(1, 1, 5), After: row(1, 2, 5), At: pos(10)}
	plain := &relay.Change{Table: stockTable, Op: domain.OpUpdate, Before: row(1, 2, 5), After: row(1, 2, 6), At: pos(12)}
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{
		streaming, {Kind: relay.ItemChange, Change: move}, {Kind: relay.ItemChange, Change: plain}, commit(20),
	}, block: true}}}
	pub, store := &fakePublisher{}, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "published", func() bool { return store.last() == pos(20) })
	got := pub.published()
	if len(got) != 3 {
		t.Fatalf("published %d changes, want delete + create + update", len(got))
	}
	d, c, u := got[0], got[1], got[2]
	if d.Op != domain.OpDelete || d.After != nil || string(d.Before[1]) != "1" {
		t.Errorf("first: %c before %q after %q; want the delete of the old key", d.Op, d.Before, d.After)
	}
	if c.Op != domain.OpCreate || c.Before != nil || string(c.After[1]) != "2" {
		t.Errorf("second: %c before %q after %q; want the create of the new key", c.Op, c.Before, c.After)
	}
	if u.Op != domain.OpUpdate {
		t.Errorf("an update keeping its key became %c", u.Op)
	}
}

func TestCheckIsRetriedUntilItPassesOrIsPermanent(t *testing.T) {
	src := &fakeSource{checkErrs: []error{errBroken, errBroken}, current: pos(1)}
	h := start(t, quickConfig(relay.SnapshotNever), src, &fakePublisher{}, &fakeStore{})
	polltest.Until(t, deadline, "streaming after two failed checks", func() bool { return len(src.streamedFrom()) == 1 })
	if src.checks != 3 || h.m.failures(relay.StageMySQL) != 2 {
		t.Errorf("%d checks, %d failures counted; want 3 and 2", src.checks, h.m.failures(relay.StageMySQL))
	}

	src = &fakeSource{checkErrs: []error{relay.Permanent(relay.StopServerSettings, errors.New("binlog_format is STATEMENT"))}}
	h = start(t, quickConfig(relay.SnapshotNever), src, &fakePublisher{}, &fakeStore{})
	if err := h.ended(); err == nil || !strings.Contains(err.Error(), "STATEMENT") {
		t.Fatalf("Run: %v", err)
	}
	if reason, _ := h.r.Halted(); reason != relay.StopServerSettings {
		t.Errorf("halted for %q, want server_settings", reason)
	}

	// A check that failed for good before Run is what Run ends with, at
	// once: the start reports it, not a second attempt.
	src = &fakeSource{checkErrs: []error{relay.Permanent(relay.StopPrivileges, errors.New("REPLICATION SLAVE denied"))}, current: pos(1)}
	r, err := relay.New(quickConfig(relay.SnapshotNever), src, &fakePublisher{}, &fakeStore{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(context.Background()); !relay.IsPermanent(err) {
		t.Fatalf("Check: %v; want the permanent failure", err)
	}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "REPLICATION SLAVE") || src.checks != 1 {
		t.Fatalf("Run after a failed check: %v after %d checks; want the check's error after 1", err, src.checks)
	}
	if reason, _ := r.Halted(); reason != relay.StopPrivileges || len(src.streamedFrom()) != 0 {
		t.Errorf("halted for %q after streaming %d times; want privileges, no stream", reason, len(src.streamedFrom()))
	}

	// A check that passed before Run is not repeated.
	src = &fakeSource{current: pos(1)}
	r, err = relay.New(quickConfig(relay.SnapshotNever), src, &fakePublisher{}, &fakeStore{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	polltest.Until(t, deadline, "streaming", func() bool { return len(src.streamedFrom()) == 1 })
	cancel()
	if err := <-done; err != nil || src.checks != 1 {
		t.Errorf("Run: %v after %d checks; want nil after 1", err, src.checks)
	}
}

func TestFailedCheckpointSaveIsRetriedWithoutRestarting(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{{items: []relay.Item{streaming, insert(1, 10), commit(20)}, block: true}}}
	fails := 0
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}, saveErr: func(relay.Position) error {
		if fails < 3 {
			fails++
			return errBroken
		}
		return nil
	}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, &fakePublisher{}, store)
	polltest.Until(t, deadline, "saved", func() bool { return store.last() == pos(20) })
	if h.m.failures(relay.StageCheckpoint) != 3 || len(src.streamedFrom()) != 1 {
		t.Errorf("%d checkpoint failures counted, %d sessions; want 3 and 1", h.m.failures(relay.StageCheckpoint), len(src.streamedFrom()))
	}
}

func TestFailedSnapshotStartsOver(t *testing.T) {
	rows := []*relay.Change{
		{Table: stockTable, Op: domain.OpRead, After: row(1, 1, 1)},
		{Table: stockTable, Op: domain.OpRead, After: row(2, 1, 1)},
		{Table: stockTable, Op: domain.OpRead, After: row(3, 1, 1)},
		{Table: stockTable, Op: domain.OpRead, After: row(4, 1, 1)},
	}
	src := &fakeSource{snapRows: rows, snapPos: pos(50), snapErrs: []error{errBroken}}
	pub, store := &fakePublisher{}, &fakeStore{loadErr: []error{errBroken}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, pub, store)
	polltest.Until(t, deadline, "stream after the snapshot", func() bool { return len(src.streamedFrom()) == 1 })
	if src.snapshots != 2 || store.saved()[0] != pos(50) {
		t.Errorf("%d snapshots, first checkpoint %s; want 2 and the snapshot's position", src.snapshots, store.saved()[0])
	}
	seen := map[string]bool{}
	for _, c := range pub.published() {
		seen[string(c.After[0])] = true
	}
	if len(seen) != 4 {
		t.Errorf("snapshot rows published: %v; want all 4", seen)
	}
	if h.m.failures(relay.StageCheckpoint) != 1 || h.m.failures(relay.StageMySQL) != 1 {
		t.Errorf("failures %v; want one checkpoint load and one snapshot", h.m.failed)
	}
}

func TestNewAndParseSnapshotMode(t *testing.T) {
	if _, err := relay.New(relay.Config{}, nil, &fakePublisher{}, &fakeStore{}, nil, nil); err == nil {
		t.Error("New without a source")
	}
	if _, err := relay.New(relay.Config{Snapshot: "sometimes"}, &fakeSource{}, &fakePublisher{}, &fakeStore{}, nil, nil); err == nil {
		t.Error("New with a bad snapshot mode")
	}
	for in, ok := range map[string]bool{"initial": true, "never": true, "when_needed": true, "": false, "always": false} {
		if _, err := relay.ParseSnapshotMode(in); (err == nil) != ok {
			t.Errorf("ParseSnapshotMode(%q): %v", in, err)
		}
	}
}

func TestErrorsAndPositions(t *testing.T) {
	if s := (relay.Position{}).String(); s != "(none)" {
		t.Errorf("zero position: %q", s)
	}
	if s := (relay.Position{File: "b.1", Pos: 9, GTID: "0-1-2"}).String(); s != "b.1:9 (gtid 0-1-2)" {
		t.Errorf("position: %q", s)
	}
	err := fmt.Errorf("wrapped: %w", &relay.PurgedError{File: "b.7"})
	if !relay.IsPermanent(err) || !strings.Contains(err.Error(), "b.7") {
		t.Errorf("purged: %v", err)
	}
	if reason, ok := relay.ReasonOf(err); !ok || reason != relay.StopBinlogPurged {
		t.Errorf("purged: reason %q %v", reason, ok)
	}
	if relay.IsPermanent(errBroken) || relay.Permanent(relay.StopOther, nil) != nil {
		t.Error("plain errors are not permanent; Permanent(nil) is nil")
	}
	p := relay.Permanent(relay.StopPrivileges, errBroken)
	if !errors.Is(p, errBroken) || !relay.IsPermanent(fmt.Errorf("x: %w", p)) {
		t.Error("Permanent keeps the cause and survives wrapping")
	}
	if reason, ok := relay.ReasonOf(fmt.Errorf("x: %w", p)); !ok || reason != relay.StopPrivileges {
		t.Errorf("reason through wrapping: %q %v", reason, ok)
	}
	for _, reason := range relay.StopReasons() {
		if reason.Fix() == "" || reason.Fix() == relay.StopReason("unknown").Fix() && reason != relay.StopOther {
			t.Errorf("reason %s has no fix of its own", reason)
		}
	}
}

// TestIdleRelayKeepsItsCheckpointCurrent: with nothing new to save, the
// relay still reports the checkpoint current, so its age does not grow on
// an idle database; nothing is written.
func TestIdleRelayKeepsItsCheckpointCurrent(t *testing.T) {
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true},
		sessions: []session{{items: []relay.Item{streaming, insert(1, 10), commit(20)}, block: true}}}
	store := &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}}
	h := start(t, quickConfig(relay.SnapshotInitial), src, &fakePublisher{}, store)
	polltest.Until(t, deadline, "saved", func() bool { return store.last() == pos(20) })
	polltest.Until(t, deadline, "reported current while idle", func() bool {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		return h.m.saved >= 5
	})
	if saves := store.saved(); len(saves) != 1 {
		t.Errorf("idle relay wrote %d checkpoints %v; want just the one that moved", len(saves), saves)
	}
}

// Heartbeats go to Kafka while the relay streams and is caught up (here: a
// binlog heartbeat just heard), and stop once it is no longer: nothing heard
// from the binlog for HeartbeatWithin, as when MySQL is unreachable or the
// relay falls behind. A relay that never caught up sends none.
func TestSourceHeartbeatsOnlyWhileCaughtUp(t *testing.T) {
	cfg := quickConfig(relay.SnapshotInitial)
	cfg.HeartbeatEvery, cfg.HeartbeatWithin = 5*time.Millisecond, 300*time.Millisecond
	heardNow := relay.Item{Kind: relay.ItemHeartbeat, Time: time.Now()}
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{streaming, heardNow}, block: true}}}
	pub := &fakePublisher{}
	h := start(t, cfg, src, pub, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "heartbeats while caught up", func() bool { return len(pub.heartbeats()) >= 3 })
	// Nothing more comes from the binlog: once HeartbeatWithin has passed
	// since it last said the relay was caught up, heartbeats stop.
	polltest.Until(t, deadline, "heartbeats to stop", func() bool {
		n := len(pub.heartbeats())
		time.Sleep(50 * time.Millisecond)
		return len(pub.heartbeats()) == n && time.Since(heardNow.Time) > cfg.HeartbeatWithin
	})
	for _, at := range pub.heartbeats() {
		if at.Sub(heardNow.Time) > cfg.HeartbeatWithin+cfg.HeartbeatEvery {
			t.Fatalf("a heartbeat at %s, %s after the relay was last caught up", at, at.Sub(heardNow.Time))
		}
	}
	h.m.mu.Lock()
	counted := h.m.beats
	h.m.mu.Unlock()
	if counted != len(pub.heartbeats()) {
		t.Fatalf("metrics counted %d heartbeats, %d sent", counted, len(pub.heartbeats()))
	}

	// Far behind from the start (the binlog's news is old): none at all.
	old := relay.Item{Kind: relay.ItemHeartbeat, Time: time.Now().Add(-time.Hour)}
	src2 := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{streaming, old}, block: true}}}
	pub2 := &fakePublisher{}
	h2 := start(t, cfg, src2, pub2, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "the old heartbeat acknowledged", func() bool { return len(h2.m.caughtUpTimes()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if n := len(pub2.heartbeats()); n != 0 {
		t.Fatalf("%d heartbeats from a relay an hour behind", n)
	}
}
