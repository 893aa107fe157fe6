package simulator

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/domain"
)

type changeCall struct {
	productID, warehouseID int64
	qty                    int32
	span                   trace.SpanContext
}

type changeResult struct {
	before, after domain.StockRow
	updatedAt     int64
	err           error
}

// fakeChanger answers each call with respond, or with a made-up row change
// when respond is nil.
type fakeChanger struct {
	mu      sync.Mutex
	calls   []changeCall
	respond func(ctx context.Context, n int, c changeCall) changeResult
	results []changeResult
}

func (f *fakeChanger) ChangeStockQty(ctx context.Context, productID, warehouseID int64, qty int32) (domain.StockRow, domain.StockRow, int64, error) {
	c := changeCall{productID, warehouseID, qty, trace.SpanContextFromContext(ctx)}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	respond := f.respond
	f.mu.Unlock()

	var r changeResult
	if respond != nil {
		r = respond(ctx, n, c)
	} else {
		r = changeResult{
			before:    domain.StockRow{ProductID: productID, WarehouseID: warehouseID, QtySalable: int32(n), Version: uint64(10 * n)},
			after:     domain.StockRow{ProductID: productID, WarehouseID: warehouseID, QtySalable: qty, Version: uint64(10*n + 1)},
			updatedAt: int64(1000 * n),
		}
	}
	f.mu.Lock()
	f.results = append(f.results, r)
	f.mu.Unlock()
	return r.before, r.after, r.updatedAt, r.err
}

func (f *fakeChanger) snapshot() ([]changeCall, []changeResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]changeCall(nil), f.calls...), append([]changeResult(nil), f.results...)
}

type publication struct {
	op            domain.Op
	before, after domain.StockRow
	updatedAt     int64
	ctxErr        error
	hasDeadline   bool
	span          trace.SpanContext
}

type fakePublisher struct {
	mu     sync.Mutex
	got    []publication
	failOn map[int]error // 1-based publish attempt -> error
}

func (f *fakePublisher) PublishStock(ctx context.Context, op domain.Op, before, after *domain.StockRow, updatedAt int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, hasDeadline := ctx.Deadline()
	p := publication{op: op, updatedAt: updatedAt, ctxErr: ctx.Err(), hasDeadline: hasDeadline, span: trace.SpanContextFromContext(ctx)}
	if before != nil {
		p.before = *before
	}
	if after != nil {
		p.after = *after
	}
	f.got = append(f.got, p)
	return f.failOn[len(f.got)]
}

func (f *fakePublisher) snapshot() []publication {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]publication(nil), f.got...)
}

// recordingHandler keeps log records for inspection.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) warnings() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Level == slog.LevelWarn {
			out = append(out, r)
		}
	}
	return out
}

func recordAttr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// manualTicks replaces the ticker: the test decides when a tick happens.
type manualTicks struct {
	ch       chan time.Time
	interval time.Duration
	created  int
	stopped  bool
}

func useManualTicks(s *Simulator) *manualTicks {
	m := &manualTicks{ch: make(chan time.Time)}
	s.newTicker = func(d time.Duration) (<-chan time.Time, func()) {
		m.interval, m.created = d, m.created+1
		return m.ch, func() { m.stopped = true }
	}
	return m
}

// runTicks starts Run, delivers n ticks (each one is received only once
// the previous step has finished), waits for the last step to finish, stops
// Run and waits for it. It must be called inside a synctest bubble.
func runTicks(t *testing.T, s *Simulator, n int) *manualTicks {
	t.Helper()
	ticks := useManualTicks(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for range n {
		ticks.ch <- time.Time{}
	}
	// Run is back in its select once every goroutine of the bubble
	// blocks; cancelling earlier would cancel the last step.
	synctest.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil after cancellation", err)
	}
	return ticks
}

func newSim(t *testing.T, cfg Config, c StockChanger, p Publisher, log *slog.Logger, opts ...Option) *Simulator {
	t.Helper()
	s, err := New(cfg, c, p, log, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestRunPublishesWhatTheChangerReturnedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		changer, pub := &fakeChanger{}, &fakePublisher{}
		s := newSim(t, Config{Rate: 4, Products: 50, Warehouses: 3, Seed: 7}, changer, pub, nil)
		ticks := runTicks(t, s, 40)

		if ticks.interval != 250*time.Millisecond {
			t.Errorf("ticker interval = %s, want 250ms for 4 changes per second", ticks.interval)
		}
		if !ticks.stopped {
			t.Error("ticker not stopped when Run returned")
		}
		calls, results := changer.snapshot()
		pubs := pub.snapshot()
		if len(calls) != 40 || len(pubs) != 40 {
			t.Fatalf("%d changes and %d publications, want 40 of each", len(calls), len(pubs))
		}
		productsSeen := map[int64]bool{}
		for i, c := range calls {
			if c.productID < 1 || c.productID > 50 || c.warehouseID < 1 || c.warehouseID > 3 {
				t.Errorf("call %d: row (%d, %d) outside products 1..50, warehouses 1..3", i, c.productID, c.warehouseID)
			}
			if c.qty < 0 || c.qty > MaxQty {
				t.Errorf("call %d: qty %d outside 0..%d", i, c.qty, MaxQty)
			}
			productsSeen[c.productID] = true
			want := publication{op: domain.OpUpdate, before: results[i].before, after: results[i].after, updatedAt: results[i].updatedAt}
			got := pubs[i]
			if got.op != want.op || got.before != want.before || got.after != want.after || got.updatedAt != want.updatedAt {
				t.Errorf("publication %d = %s %+v -> %+v @%d, want %s %+v -> %+v @%d", i,
					got.op, got.before, got.after, got.updatedAt, want.op, want.before, want.after, want.updatedAt)
			}
		}
		if len(productsSeen) < 2 {
			t.Errorf("40 changes touched %d product(s); rows are not picked at random", len(productsSeen))
		}
		if st := s.Stats(); st != (Stats{Changes: 40}) {
			t.Errorf("Stats() = %+v, want 40 changes and no errors", st)
		}
	})
}

func TestSeedMakesTheSequenceRepeatable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sequence := func(seed uint64) [][3]int64 {
			changer := &fakeChanger{}
			s := newSim(t, Config{Rate: 1, Products: 1000, Warehouses: 10, Seed: seed}, changer, &fakePublisher{}, nil)
			runTicks(t, s, 20)
			calls, _ := changer.snapshot()
			out := make([][3]int64, len(calls))
			for i, c := range calls {
				out[i] = [3]int64{c.productID, c.warehouseID, int64(c.qty)}
			}
			return out
		}
		a, b, c := sequence(42), sequence(42), sequence(43)
		same := func(x, y [][3]int64) bool {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if x[i] != y[i] {
					return false
				}
			}
			return true
		}
		if !same(a, b) {
			t.Errorf("seed 42 gave two sequences:\n%v\n%v", a, b)
		}
		if same(a, c) {
			t.Errorf("seeds 42 and 43 gave the same sequence %v", a)
		}
	})
}

func TestRunKeepsGoingAfterErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dbDown := errors.New("database down")
		kafkaDown := errors.New("kafka down")
		changer := &fakeChanger{}
		defaultRespond := func(_ context.Context, n int, c changeCall) changeResult {
			return changeResult{
				before:    domain.StockRow{ProductID: c.productID, WarehouseID: c.warehouseID, Version: uint64(n)},
				after:     domain.StockRow{ProductID: c.productID, WarehouseID: c.warehouseID, QtySalable: c.qty, Version: uint64(n + 1)},
				updatedAt: int64(n),
			}
		}
		changer.respond = func(ctx context.Context, n int, c changeCall) changeResult {
			switch n {
			case 2:
				return changeResult{err: dbDown}
			case 5:
				return changeResult{err: domain.NotFoundf("no stock row")}
			}
			return defaultRespond(ctx, n, c)
		}
		pub := &fakePublisher{failOn: map[int]error{3: kafkaDown}}
		logs := &recordingHandler{}
		s := newSim(t, Config{Rate: 10, Products: 5, Warehouses: 5, Seed: 1}, changer, pub, slog.New(logs))
		clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		s.now = func() time.Time { return clock }

		runTicks(t, s, 8)

		calls, results := changer.snapshot()
		if len(calls) != 8 {
			t.Fatalf("%d change attempts, want one per tick (8)", len(calls))
		}
		pubs := pub.snapshot()
		if len(pubs) != 6 {
			t.Fatalf("%d publish attempts, want 6 (changes 2 and 5 failed)", len(pubs))
		}
		// The failed publish (3rd attempt, change 4) is not retried, and the
		// changes after it are published in order.
		wantVersions := []uint64{2, 4, 5, 7, 8, 9}
		for i, p := range pubs {
			if p.after.Version != wantVersions[i] {
				t.Errorf("publish %d carries version %d, want %d", i, p.after.Version, wantVersions[i])
			}
		}
		if results[7].after != pubs[5].after {
			t.Errorf("last publication %+v is not the last change %+v", pubs[5].after, results[7].after)
		}
		if st := s.Stats(); st != (Stats{Changes: 5, Errors: 3}) {
			t.Errorf("Stats() = %+v, want 5 changes and 3 errors", st)
		}

		// The clock never moved: only the first error was logged.
		warns := logs.warnings()
		if len(warns) != 1 {
			t.Fatalf("%d warnings logged, want 1 (rate-limited)", len(warns))
		}
		if v, _ := recordAttr(warns[0], "error"); !strings.Contains(v.String(), "database down") {
			t.Errorf("warning error = %q, want the database error", v)
		}

		// Once the interval has passed, the next error is logged with the
		// number suppressed meanwhile.
		clock = clock.Add(errorLogEvery)
		changer.respond = func(context.Context, int, changeCall) changeResult { return changeResult{err: dbDown} }
		runTicks(t, s, 1)
		warns = logs.warnings()
		if len(warns) != 2 {
			t.Fatalf("%d warnings logged, want 2", len(warns))
		}
		if v, ok := recordAttr(warns[1], "suppressed_since_last_log"); !ok || v.Uint64() != 2 {
			t.Errorf("suppressed_since_last_log = %v, want 2", v)
		}
	})
}

func TestCommittedChangeIsPublishedDespiteCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changer := &fakeChanger{}
	changer.respond = func(_ context.Context, n int, c changeCall) changeResult {
		// Shutdown begins right after the commit.
		cancel()
		return changeResult{after: domain.StockRow{ProductID: c.productID, WarehouseID: c.warehouseID, QtySalable: c.qty, Version: 9}}
	}
	pub := &fakePublisher{}
	s := newSim(t, Config{Rate: 1, Products: 1, Warehouses: 1, Seed: 1, PublishTimeout: time.Minute}, changer, pub, nil)
	ticks := useManualTicks(s)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ticks.ch <- time.Time{}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	pubs := pub.snapshot()
	if len(pubs) != 1 {
		t.Fatalf("%d publications, want the committed change published", len(pubs))
	}
	if pubs[0].ctxErr != nil || !pubs[0].hasDeadline {
		t.Errorf("publish context: err %v, deadline %v; want a live context with a deadline", pubs[0].ctxErr, pubs[0].hasDeadline)
	}
	if st := s.Stats(); st != (Stats{Changes: 1}) {
		t.Errorf("Stats() = %+v, want 1 change", st)
	}
}

func TestCancelledChangeIsNotAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		changer := &fakeChanger{}
		// The database call is in flight when shutdown begins; it gives
		// up with the context's error.
		changer.respond = func(ctx context.Context, _ int, _ changeCall) changeResult {
			<-ctx.Done()
			return changeResult{err: ctx.Err()}
		}
		pub := &fakePublisher{}
		s := newSim(t, Config{Rate: 100, Products: 3, Warehouses: 3, Seed: 1}, changer, pub, nil)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		time.Sleep(s.Interval()) // fake time: the first tick fires
		synctest.Wait()
		if calls, _ := changer.snapshot(); len(calls) != 1 {
			t.Fatalf("%d changes in flight, want 1", len(calls))
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		default:
			t.Fatal("Run still running after cancellation with nothing left to wait for")
		}
		if n := len(pub.snapshot()); n != 0 {
			t.Errorf("%d publications of a change that was not made", n)
		}
		if st := s.Stats(); st != (Stats{}) {
			t.Errorf("Stats() = %+v, want nothing counted for a cancelled change", st)
		}
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		changer, pub := &fakeChanger{}, &fakePublisher{}
		s := newSim(t, Config{Rate: 1000, Products: 10, Warehouses: 2, Seed: 3}, changer, pub, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		time.Sleep(time.Second) // fake time: about a thousand ticks
		synctest.Wait()
		before := len(pub.snapshot())
		if before == 0 {
			t.Fatal("no changes published in a second at 1000 per second")
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		default:
			t.Fatal("Run did not return after cancellation")
		}
		time.Sleep(time.Second)
		if after := len(pub.snapshot()); after != before {
			t.Errorf("%d changes published after Run returned", after-before)
		}
	})
}

func TestRateZeroIdles(t *testing.T) {
	for _, rate := range []float64{0, -5} {
		synctest.Test(t, func(t *testing.T) {
			changer, pub := &fakeChanger{}, &fakePublisher{}
			// Products and warehouses are not needed when off.
			s := newSim(t, Config{Rate: rate}, changer, pub, nil)
			ticks := useManualTicks(s)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()

			time.Sleep(time.Hour)
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("Run returned %v before the context ended", err)
			default:
			}
			cancel()
			synctest.Wait()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			default:
				t.Fatal("Run did not return after cancellation")
			}
			calls, _ := changer.snapshot()
			if len(calls) != 0 || len(pub.snapshot()) != 0 || ticks.created != 0 {
				t.Errorf("rate %v: %d changes, %d publications, %d tickers; want none", rate, len(calls), len(pub.snapshot()), ticks.created)
			}
			if s.Interval() != 0 {
				t.Errorf("Interval() = %s, want 0 when off", s.Interval())
			}
		})
	}
}

func TestRunRefusesASecondConcurrentRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, Config{}, &fakeChanger{}, &fakePublisher{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		synctest.Wait()
		if err := s.Run(ctx); err == nil {
			t.Error("second concurrent Run returned nil, want an error")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("first Run = %v", err)
		}
		// Once stopped, it can run again.
		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if err := s.Run(ctx2); err != nil {
			t.Errorf("Run after the first stopped = %v, want nil", err)
		}
	})
}

func TestSpanLinksChangeAndPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		changer, pub := &fakeChanger{}, &fakePublisher{}
		s := newSim(t, Config{Rate: 1, Products: 2, Warehouses: 2, Seed: 1}, changer, pub, nil, WithTracerProvider(tp))
		runTicks(t, s, 1)

		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%d spans, want 1 per change", len(spans))
		}
		id := spans[0].SpanContext()
		calls, _ := changer.snapshot()
		pubs := pub.snapshot()
		if !calls[0].span.Equal(id) || !pubs[0].span.Equal(id) {
			t.Errorf("change saw span %v, publish saw %v, want both %v", calls[0].span, pubs[0].span, id)
		}
	})
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{0, 0},
		{-1, 0},
		{1, time.Second},
		{4, 250 * time.Millisecond},
		{0.5, 2 * time.Second},
		{1e12, time.Microsecond},
	} {
		s := newSim(t, Config{Rate: tc.rate, Products: 1, Warehouses: 1}, &fakeChanger{}, &fakePublisher{}, nil)
		if got := s.Interval(); got != tc.want {
			t.Errorf("rate %v: Interval() = %s, want %s", tc.rate, got, tc.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := Config{Rate: 1, Products: 1, Warehouses: 1}
	for _, tc := range []struct {
		name      string
		cfg       Config
		changer   StockChanger
		publisher Publisher
		want      string
	}{
		{"NaN rate", Config{Rate: math.NaN(), Products: 1, Warehouses: 1}, &fakeChanger{}, &fakePublisher{}, "finite"},
		{"infinite rate", Config{Rate: math.Inf(1), Products: 1, Warehouses: 1}, &fakeChanger{}, &fakePublisher{}, "finite"},
		{"no products", Config{Rate: 1, Warehouses: 1}, &fakeChanger{}, &fakePublisher{}, "at least 1"},
		{"no warehouses", Config{Rate: 1, Products: 1}, &fakeChanger{}, &fakePublisher{}, "at least 1"},
		{"negative timeout", Config{Rate: 1, Products: 1, Warehouses: 1, PublishTimeout: -time.Second}, &fakeChanger{}, &fakePublisher{}, "timeout"},
		{"no changer", ok, nil, &fakePublisher{}, "required"},
		{"no publisher", ok, &fakeChanger{}, nil, "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.changer, tc.publisher, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
