package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/pace"
)

// Config tunes the relay; zero values take the defaults below.
type Config struct {
	// Snapshot is when existing rows are published; default SnapshotInitial.
	Snapshot SnapshotMode
	// MaxBatch bounds the changes of one Publish call; default 1000.
	MaxBatch int
	// CheckpointEvery is how often the acknowledged position is saved
	// while streaming; default 1s. Shorter means fewer events sent again
	// after a crash, for one small Kafka write per interval.
	CheckpointEvery time.Duration
	// RetryMin and RetryMax bound the wait before reconnecting; it doubles
	// after every failed session and starts over once one makes progress.
	// Defaults 200ms and 10s.
	RetryMin, RetryMax time.Duration
	// FinalSaveTimeout bounds the checkpoint save at shutdown; default 5s.
	FinalSaveTimeout time.Duration
	// HeartbeatEvery is how often a heartbeat is published (0: never),
	// and only while the relay streams and Kafka holds every change the
	// database made up to at most HeartbeatWithin ago (see
	// Metrics.Acknowledged): a relay that lost the binlog, cannot publish,
	// or falls behind goes silent, and consumers notice.
	HeartbeatEvery  time.Duration
	HeartbeatWithin time.Duration
	// ProgressEvery is the least time between two heartbeats sent because
	// a batch ended a transaction, each saying how far the relay has
	// published (Progress); 0 leaves progress to the HeartbeatEvery
	// heartbeats. Shorter lets a read node prove a client's write applied
	// sooner, for one small record per interval on the heartbeat topic.
	ProgressEvery time.Duration
	// Now tells the time; default time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxBatch         = 1000
	DefaultCheckpointEvery  = time.Second
	DefaultRetryMin         = 200 * time.Millisecond
	DefaultRetryMax         = 10 * time.Second
	DefaultFinalSaveTimeout = 5 * time.Second
)

func (c *Config) fill() error {
	if c.Snapshot == "" {
		c.Snapshot = SnapshotInitial
	}
	if _, err := ParseSnapshotMode(string(c.Snapshot)); err != nil {
		return err
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(DefaultRetryMax, c.RetryMin)
	}
	if c.FinalSaveTimeout <= 0 {
		c.FinalSaveTimeout = DefaultFinalSaveTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HeartbeatEvery > 0 && c.HeartbeatWithin <= 0 {
		return errors.New("heartbeats need a bound on how far behind the relay may be (HeartbeatWithin)")
	}
	return nil
}

// Relay moves changes from a Source to a Publisher and keeps the
// checkpoint. Run it once.
type Relay struct {
	cfg   Config
	src   Source
	pub   Publisher
	store CheckpointStore
	m     Metrics
	log   *slog.Logger

	mu      sync.Mutex
	state   State
	checked bool
	// checkErr is a permanent failure of Check, which Run then ends with.
	checkErr error
	// halted is the error Run stopped for good with, for reason.
	halted error
	reason StopReason
	// acked: every change before it is on Kafka. saved: the checkpoint
	// last written. Only the goroutine running Run writes them.
	acked, saved Position
	prog         *progress
}

// New builds a relay; m and log may be nil.
func New(cfg Config, src Source, pub Publisher, store CheckpointStore, m Metrics, log *slog.Logger) (*Relay, error) {
	if src == nil || pub == nil || store == nil {
		return nil, errors.New("relay: source, publisher and checkpoint store are required")
	}
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if m == nil {
		m = NopMetrics{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Relay{cfg: cfg, src: src, pub: pub, store: store, m: m, log: log, prog: newProgress()}, nil
}

// State returns what the relay is doing.
func (r *Relay) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Ready returns nil while the relay streams the binlog, else why not.
func (r *Relay) Ready() error {
	if reason, err := r.Halted(); err != nil {
		return fmt.Errorf("relay stopped for good (%s): %w", reason, err)
	}
	if s := r.State(); s != StateStreaming {
		return fmt.Errorf("relay is %s", s)
	}
	return nil
}

// Halted returns the error Run stopped for good with, and why; nil while
// it has not.
func (r *Relay) Halted() (StopReason, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason, r.halted
}

// halt records that Run stops for good with err.
func (r *Relay) halt(err error) {
	reason, ok := ReasonOf(err)
	if !ok {
		reason = StopOther
	}
	r.mu.Lock()
	r.halted, r.reason = err, reason
	r.mu.Unlock()
	r.m.Stopped(reason)
}

// Acknowledged returns the position everything before which is on Kafka.
func (r *Relay) Acknowledged() Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked
}

func (r *Relay) setState(s State) {
	r.mu.Lock()
	changed := r.state != s
	r.state = s
	r.mu.Unlock()
	if changed {
		r.m.StateChanged(s)
	}
}

func (r *Relay) setAcked(p Position) {
	r.mu.Lock()
	r.acked = p
	r.mu.Unlock()
}

// Check runs the source's start-up checks (settings, privileges, tables),
// so a caller learns of a misconfiguration before Run; Run skips them once
// they passed, and ends at once with a permanent failure of theirs.
func (r *Relay) Check(ctx context.Context) error {
	err := r.src.Check(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.checked = true
		return nil
	case IsPermanent(err):
		r.checkErr = err
	}
	return fmt.Errorf("relay: %w", err)
}

// Run captures changes until ctx ends, then saves the checkpoint and
// returns nil. It returns an error only for what reconnecting cannot fix: a
// failed check, a purged binlog (unless SnapshotWhenNeeded), or an error
// the Source marked Permanent; the relay is then stopped for good (Halted,
// Ready and Metrics.Stopped say why).
func (r *Relay) Run(ctx context.Context) error {
	defer r.setState(StateStopped)
	err := r.run(ctx)
	if err != nil {
		r.halt(err)
	}
	return err
}

func (r *Relay) run(ctx context.Context) error {
	r.setState(StateStarting)
	r.mu.Lock()
	checked, checkErr := r.checked, r.checkErr
	r.mu.Unlock()
	if checkErr != nil {
		return fmt.Errorf("relay: %w", checkErr)
	}
	if !checked {
		if err := r.retry(ctx, "check the source", StageMySQL, r.src.Check); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: %w", err)
		}
	}
	if err := r.retry(ctx, "prepare the change topics", StageKafka, r.pub.Prepare); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("relay: %w", err)
	}
	start, err := r.start(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("relay: %w", err)
	}
	r.setAcked(start)
	r.saved = start

	wait := pace.Backoff{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	for {
		from := r.Acknowledged()
		// Every transaction before from is on Kafka: a relay started
		// again knows the GTID position from its checkpoint.
		r.prog.gtids.add(from.GTID)
		r.log.Info("relay: reading the binlog", "from", from.String())
		err := r.pump(ctx, func(ctx context.Context, emit func(Item) error) error {
			return r.src.Stream(ctx, from, emit)
		})
		if ctx.Err() != nil {
			r.finalSave()
			return nil
		}
		var purged *PurgedError
		if errors.As(err, &purged) && r.cfg.Snapshot == SnapshotWhenNeeded {
			r.log.Warn("relay: binlog purged under the checkpoint; taking a new snapshot", "file", purged.File)
			if _, err := r.snapshot(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("relay: %w", err)
			}
			wait.Reset()
			continue
		}
		if IsPermanent(err) {
			r.finalSave()
			return fmt.Errorf("relay: %w", err)
		}
		if err == nil {
			err = errors.New("binlog stream ended")
		}
		r.m.Failed(stageOf(err))
		if r.Acknowledged() != from {
			wait.Reset()
		}
		d := wait.Next()
		r.setState(StateReconnecting)
		r.log.Warn("relay: session ended; reconnecting", "err", err, "retry_in", d, "resume_at", r.Acknowledged().String())
		if !pace.Sleep(ctx, d) {
			r.finalSave()
			return nil
		}
	}
}

// start finds where streaming begins: the checkpoint, or a new snapshot,
// or the binlog's end.
func (r *Relay) start(ctx context.Context) (Position, error) {
	var cp Checkpoint
	var found bool
	err := r.retry(ctx, "load the checkpoint", StageCheckpoint, func(ctx context.Context) error {
		var err error
		cp, found, err = r.store.Load(ctx)
		return err
	})
	if err != nil {
		return Position{}, err
	}
	if found {
		var has bool
		err := r.retry(ctx, "look up binlog file "+cp.Position.File, StageMySQL, func(ctx context.Context) error {
			var err error
			has, err = r.src.HasBinlog(ctx, cp.Position.File)
			return err
		})
		if err != nil {
			return Position{}, err
		}
		if has {
			r.log.Info("relay: resuming from the checkpoint", "position", cp.Position.String(), "saved_at", cp.SavedAt)
			r.m.Acknowledged(cp.Position, time.Time{})
			return cp.Position, nil
		}
		if r.cfg.Snapshot != SnapshotWhenNeeded {
			return Position{}, &PurgedError{File: cp.Position.File}
		}
		r.log.Warn("relay: the checkpoint's binlog file is purged; taking a new snapshot", "file", cp.Position.File)
		return r.snapshot(ctx)
	}
	if r.cfg.Snapshot != SnapshotNever {
		r.log.Info("relay: no checkpoint; taking the initial snapshot")
		return r.snapshot(ctx)
	}
	var pos Position
	if err := r.retry(ctx, "read the binlog position", StageMySQL, func(ctx context.Context) error {
		var err error
		pos, err = r.src.Current(ctx)
		return err
	}); err != nil {
		return Position{}, err
	}
	// Saved at once: a crash before the first periodic save would
	// otherwise restart at a later end of the binlog and skip what came
	// in between.
	if err := r.saveNow(ctx, pos); err != nil {
		return Position{}, err
	}
	r.log.Info("relay: no checkpoint and --snapshot=never; starting at the end of the binlog", "position", pos.String())
	return pos, nil
}

// snapshot publishes every existing row, then checkpoints the position the
// snapshot is consistent with and returns it. A failed snapshot starts over.
func (r *Relay) snapshot(ctx context.Context) (Position, error) {
	r.setState(StateSnapshotting)
	var pos Position
	var rows int
	err := r.retry(ctx, "snapshot", StageMySQL, func(ctx context.Context) error {
		rows = 0
		return r.pump(ctx, func(ctx context.Context, emit func(Item) error) error {
			mark := snapshotMarker{emit: func(c *Change) error {
				rows++
				return emit(Item{Kind: ItemChange, Change: c, Time: c.Time})
			}}
			p, err := r.src.Snapshot(ctx, mark.add)
			if err != nil {
				return err
			}
			if err := mark.finish(); err != nil {
				return err
			}
			pos = p
			return nil
		})
	})
	if err != nil {
		return Position{}, err
	}
	r.setAcked(pos)
	r.m.Acknowledged(pos, time.Time{})
	if err := r.saveNow(ctx, pos); err != nil {
		return Position{}, err
	}
	r.log.Info("relay: snapshot published", "rows", rows, "position", pos.String())
	return pos, nil
}

// saveNow saves pos as the checkpoint, retrying until it is saved.
func (r *Relay) saveNow(ctx context.Context, pos Position) error {
	return r.retry(ctx, "save the checkpoint", StageCheckpoint, func(ctx context.Context) error {
		cp := Checkpoint{Position: pos, SavedAt: r.cfg.Now()}
		if err := r.store.Save(ctx, cp); err != nil {
			return err
		}
		r.saved = pos
		r.m.Checkpointed(cp)
		return nil
	})
}

// retry runs f until it succeeds, fails permanently or ctx ends, waiting
// with backoff between attempts.
func (r *Relay) retry(ctx context.Context, what, stage string, f func(context.Context) error) error {
	wait := pace.Backoff{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if IsPermanent(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		var se *stageError
		if errors.As(err, &se) {
			stage = se.stage
		}
		r.m.Failed(stage)
		d := wait.Next()
		r.log.Warn("relay: "+what+" failed; retrying", "err", err, "retry_in", d)
		if !pace.Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// pump runs produce in its own goroutine and publishes what it emits in
// batches until it returns (nil when it finished) or publishing fails. It
// returns only after produce has returned.
func (r *Relay) pump(ctx context.Context, produce func(context.Context, func(Item) error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan Item, r.cfg.MaxBatch)
	produced := make(chan error, 1)
	go func() {
		defer close(items)
		produced <- produce(ctx, func(it Item) error {
			select {
			case items <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	err := r.consume(ctx, items)
	cancel()
	for range items {
	}
	if perr := <-produced; err == nil {
		err = perr
	}
	return err
}

// consume publishes batches of changes and advances the acknowledged
// position to the last transaction end Kafka has everything before.
func (r *Relay) consume(ctx context.Context, items <-chan Item) error {
	tick := time.NewTicker(r.cfg.CheckpointEvery)
	defer tick.Stop()
	var beat <-chan time.Time
	if r.cfg.HeartbeatEvery > 0 {
		t := time.NewTicker(r.cfg.HeartbeatEvery)
		defer t.Stop()
		beat = t.C
	}
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	var dueC <-chan time.Time // armed while a progress record waits for ProgressEvery
	batch := make([]*Change, 0, r.cfg.MaxBatch)
	var ended []string // GTIDs of the transactions the batch ends
	lastSave := r.cfg.Now()
	var onKafka time.Time // Kafka holds every change made up to then
	for {
		var it Item
		var open bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			r.save(ctx)
			lastSave = r.cfg.Now()
			continue
		case <-beat:
			r.heartbeat(ctx, onKafka, false)
			continue
		case <-dueC:
			dueC = nil
			r.heartbeat(ctx, onKafka, true)
			continue
		case it, open = <-items:
		}
		if !open {
			return nil
		}
		batch, ended = batch[:0], ended[:0]
		var resume Position
		var caughtUp time.Time
		take := func(it Item) {
			switch it.Kind {
			case ItemChange:
				batch = appendChange(batch, it.Change)
			case ItemCommit:
				resume = it.Resume
				ended = append(ended, it.Resume.GTID)
			case ItemStreaming:
				r.setState(StateStreaming)
				r.log.Info("relay: streaming")
			}
			if !it.Time.IsZero() {
				caughtUp = it.Time
			}
		}
		take(it)
		open = pace.Drain(items, func() bool { return len(batch) < cap(batch) }, take)
		var offsets Offsets
		if len(batch) > 0 {
			var err error
			if offsets, err = r.pub.Publish(ctx, batch); err != nil {
				return &stageError{stage: StageKafka, err: fmt.Errorf("publish %d changes: %w", len(batch), err)}
			}
			for _, c := range batch {
				r.m.Published(c.Table.DB+"."+c.Table.Name, c.Op)
			}
		}
		r.prog.acknowledged(offsets, ended)
		if !resume.IsZero() {
			r.setAcked(resume)
		}
		// A heartbeat alone moves nothing but caughtUp: on an idle
		// database it is what keeps the lag near zero.
		if len(batch) > 0 || !resume.IsZero() || !caughtUp.IsZero() {
			r.m.Acknowledged(r.Acknowledged(), caughtUp)
		}
		if caughtUp.After(onKafka) {
			onKafka = caughtUp
		}
		switch wait := r.progressWait(r.cfg.Now()); {
		case wait == 0:
			r.heartbeat(ctx, onKafka, true)
		case wait > 0 && dueC == nil:
			due.Reset(wait)
			dueC = due.C
		}
		if !open {
			return nil
		}
		if now := r.cfg.Now(); now.Sub(lastSave) >= r.cfg.CheckpointEvery {
			r.save(ctx)
			lastSave = now
		}
	}
}

// heartbeat publishes a heartbeat, with the progress once there is one,
// if the relay streams and Kafka holds every change the database made up to
// at most HeartbeatWithin ago. It runs between batches, so a heartbeat
// never overtakes a change read before it, and its progress names only
// what Kafka has acknowledged. forProgress: it is sent for a transaction
// that ended, so without progress due there is nothing to send. A failed
// heartbeat is logged, not fatal: the next Publish will find out whether
// Kafka is gone.
func (r *Relay) heartbeat(ctx context.Context, onKafka time.Time, forProgress bool) {
	now := r.cfg.Now()
	if forProgress && !r.prog.due ||
		r.State() != StateStreaming || onKafka.IsZero() || now.Sub(onKafka) > r.cfg.HeartbeatWithin {
		return
	}
	prog := r.record(ctx, now)
	if forProgress && prog == nil {
		return
	}
	if err := r.pub.Heartbeat(ctx, now, prog); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("relay: heartbeat not published", "err", err)
		}
		return
	}
	if prog != nil {
		r.prog.lastSent, r.prog.due = now, false
	}
	r.m.HeartbeatSent()
}

// appendChange adds c to batch. An update that changes the primary key
// becomes a delete of the old key and a create of the new one, as Debezium
// writes it, so a consumer keyed by row sees the old key go away.
func appendChange(batch []*Change, c *Change) []*Change {
	if c.Op != domain.OpUpdate || c.Before == nil || c.After == nil || !keyChanged(c) {
		return append(batch, c)
	}
	del, ins := *c, *c
	del.Op, del.After = domain.OpDelete, nil
	ins.Op, ins.Before = domain.OpCreate, nil
	return append(batch, &del, &ins)
}

func keyChanged(c *Change) bool {
	for _, k := range c.Table.Key {
		if k >= len(c.Before) || k >= len(c.After) {
			return false
		}
		b, a := c.Before[k], c.After[k]
		if (b == nil) != (a == nil) || string(b) != string(a) {
			return true
		}
	}
	return false
}

// save writes the acknowledged position when it moved. A failure is
// counted and left to the next save: the position is still in memory.
func (r *Relay) save(ctx context.Context) {
	pos := r.Acknowledged()
	if pos.IsZero() {
		return
	}
	if pos == r.saved {
		// Nothing new: the saved checkpoint is current as of now, which
		// is what its age should say on an idle database.
		r.m.Checkpointed(Checkpoint{Position: pos, SavedAt: r.cfg.Now()})
		return
	}
	cp := Checkpoint{Position: pos, SavedAt: r.cfg.Now()}
	if err := r.store.Save(ctx, cp); err != nil {
		r.m.Failed(StageCheckpoint)
		r.log.Warn("relay: checkpoint not saved; will retry", "err", err, "position", pos.String())
		return
	}
	r.saved = pos
	r.m.Checkpointed(cp)
}

// finalSave saves the last acknowledged position at shutdown, on a fresh
// context since the run's own has ended.
func (r *Relay) finalSave() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FinalSaveTimeout)
	defer cancel()
	r.save(ctx)
	r.log.Info("relay: stopped", "checkpoint", r.saved.String(), "acknowledged", r.Acknowledged().String())
}

// stageError tags an error with where it happened.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// stageOf names where err happened; untagged errors come from the source.
func stageOf(err error) string {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return StageMySQL
}
