// Package simulator makes the demo's data move: at a steady rate it changes
// the quantity of a random stock row in the database and then publishes the
// matching change event, as a CDC pipeline would after the commit. Readers
// watching the service see quantities change and caches follow them.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gintoki/gintoki/domain"
)

// StockChanger writes a new quantity to an existing stock row and returns
// the row before and after, and its new updated_at in Unix microseconds.
type StockChanger interface {
	ChangeStockQty(ctx context.Context, productID, warehouseID int64, qty int32) (before, after domain.StockRow, updatedAtMicros int64, err error)
}

// Publisher emits a stock change event.
type Publisher interface {
	PublishStock(ctx context.Context, op domain.Op, before, after *domain.StockRow, updatedAtMicros int64) error
}

// Config drives the simulation.
type Config struct {
	// Rate is changes per second; zero or less turns the simulator off.
	Rate float64
	// Products and Warehouses bound the ids picked: 1..Products and
	// 1..Warehouses, the ranges the seed tool fills.
	Products, Warehouses int
	// Seed makes the sequence of rows and quantities repeatable; 0 picks a
	// random seed.
	Seed uint64
	// PublishTimeout bounds publishing one event; zero means 10 s.
	PublishTimeout time.Duration
}

// Stats counts what the simulator did.
type Stats struct {
	// Changes were written to the database and published.
	Changes uint64
	// Errors are changes that failed, or were written but not published.
	Errors uint64
}

const (
	// MaxQty bounds the random quantities: 0..MaxQty.
	MaxQty = 999
	// minInterval keeps absurd rates from asking for a zero-length ticker;
	// every change is a database transaction, so nothing comes near it.
	minInterval           = time.Microsecond
	defaultPublishTimeout = 10 * time.Second
	// errorLogEvery limits error logging: a database that is down would
	// otherwise log at the full rate.
	errorLogEvery = 10 * time.Second
	tracerName    = "github.com/gintoki/gintoki/usecase/simulator"
)

// Option changes optional behaviour of New.
type Option func(*Simulator)

// WithTracerProvider starts a span per simulated change, so the database
// write and the published message (whose headers carry the span) share one
// trace.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Simulator) {
		if tp != nil {
			s.tracer = tp.Tracer(tracerName)
		}
	}
}

// Simulator changes random stock rows and publishes the changes.
type Simulator struct {
	cfg       Config
	changer   StockChanger
	publisher Publisher
	log       *slog.Logger
	tracer    trace.Tracer
	rng       *rand.Rand // used by the one running Run only

	changes, failures atomic.Uint64
	running           atomic.Bool

	// Replaced by tests for a deterministic clock and ticks.
	now       func() time.Time
	newTicker func(time.Duration) (ticks <-chan time.Time, stop func())

	// Error-log rate limiting, touched by the running Run only.
	lastErrorLog time.Time
	suppressed   uint64
}

// New checks cfg and returns a simulator. A nil log discards logs.
func New(cfg Config, changer StockChanger, publisher Publisher, log *slog.Logger, opts ...Option) (*Simulator, error) {
	switch {
	case math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("simulator: rate must be a finite number, got %v", cfg.Rate)
	case cfg.Rate > 0 && (cfg.Products < 1 || cfg.Warehouses < 1):
		return nil, fmt.Errorf("simulator: products and warehouses must be at least 1, got %d and %d", cfg.Products, cfg.Warehouses)
	case cfg.PublishTimeout < 0:
		return nil, fmt.Errorf("simulator: publish timeout must not be negative, got %s", cfg.PublishTimeout)
	case changer == nil || publisher == nil:
		return nil, errors.New("simulator: a stock changer and a publisher are required")
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = defaultPublishTimeout
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{
		cfg:       cfg,
		changer:   changer,
		publisher: publisher,
		log:       log,
		tracer:    noop.NewTracerProvider().Tracer(tracerName),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:       time.Now,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Interval is the time between two changes, or 0 when the simulator is off.
func (s *Simulator) Interval() time.Duration {
	if s.cfg.Rate <= 0 {
		return 0
	}
	return max(time.Duration(float64(time.Second)/s.cfg.Rate), minInterval)
}

// Run changes and publishes rows until ctx ends, then returns nil. Failures
// are logged and counted, never returned. When a change takes longer than
// the interval, ticks are dropped rather than queued: the rate is a ceiling.
// Run may not be called while another Run of the same simulator is active.
func (s *Simulator) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("simulator: already running")
	}
	defer s.running.Store(false)

	interval := s.Interval()
	if interval == 0 {
		s.log.InfoContext(ctx, "change simulator off", "rate", s.cfg.Rate)
		<-ctx.Done()
		return nil
	}
	s.log.InfoContext(ctx, "change simulator started", "rate", s.cfg.Rate,
		"products", s.cfg.Products, "warehouses", s.cfg.Warehouses)
	ticks, stop := s.newTicker(interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			st := s.Stats()
			s.log.InfoContext(ctx, "change simulator stopped", "changes", st.Changes, "errors", st.Errors)
			return nil
		case <-ticks:
			// Should cancellation have come with the tick, the step's
			// database call fails at once and is not counted.
			s.step(ctx)
		}
	}
}

// Stats returns the counts so far; safe to call at any time.
func (s *Simulator) Stats() Stats {
	return Stats{Changes: s.changes.Load(), Errors: s.failures.Load()}
}

func (s *Simulator) step(ctx context.Context) {
	productID := 1 + s.rng.Int64N(int64(s.cfg.Products))
	warehouseID := 1 + s.rng.Int64N(int64(s.cfg.Warehouses))
	qty := s.rng.Int32N(MaxQty + 1)

	ctx, span := s.tracer.Start(ctx, "simulator.ChangeStock", trace.WithAttributes(
		attribute.Int64("gintoki.product_id", productID), attribute.Int64("gintoki.warehouse_id", warehouseID)))
	defer span.End()

	before, after, updatedAt, err := s.changer.ChangeStockQty(ctx, productID, warehouseID, qty)
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: the change was not made, nothing is lost.
			return
		}
		s.fail(ctx, span, fmt.Errorf("change stock of product %d in warehouse %d: %w", productID, warehouseID, err))
		return
	}

	// The row is committed: its event must go out even if shutdown has
	// begun meanwhile, or every consumer would keep the old row until its
	// TTL. A real binlog reader would publish it too.
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.publisher.PublishStock(pubCtx, domain.OpUpdate, &before, &after, updatedAt); err != nil {
		s.fail(ctx, span, fmt.Errorf("publish change of product %d in warehouse %d (version %d, committed): %w",
			productID, warehouseID, after.Version, err))
		return
	}
	s.changes.Add(1)
}

func (s *Simulator) fail(ctx context.Context, span trace.Span, err error) {
	s.failures.Add(1)
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())

	now := s.now()
	if !s.lastErrorLog.IsZero() && now.Sub(s.lastErrorLog) < errorLogEvery {
		s.suppressed++
		return
	}
	s.log.WarnContext(ctx, "change simulator step failed", "error", err, "suppressed_since_last_log", s.suppressed)
	s.lastErrorLog, s.suppressed = now, 0
}
