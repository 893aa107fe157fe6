package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/gintoki/gintoki/domain"
)

// dbGuard protects the database from the read path: at most maxInFlight
// queries at once, a short wait for a slot and then a fast "unavailable"
// instead of a queue that grows for tens of seconds, and a deadline on every
// query.
type dbGuard struct {
	slots        *semaphore.Weighted // waiters are served in order
	maxInFlight  int
	queueTimeout time.Duration
	queryTimeout time.Duration
	metrics      Metrics
}

func newDBGuard(maxInFlight int, queueTimeout, queryTimeout time.Duration, m Metrics) *dbGuard {
	if maxInFlight < 1 {
		maxInFlight = 1
	}
	return &dbGuard{slots: semaphore.NewWeighted(int64(maxInFlight)), maxInFlight: maxInFlight,
		queueTimeout: queueTimeout, queryTimeout: queryTimeout, metrics: m}
}

// do runs query with a slot and a deadline. Errors come back as
// domain.ErrUnavailable unless the caller's own context ended first.
func (g *dbGuard) do(ctx context.Context, what string, query func(context.Context) error) error {
	if !g.slots.TryAcquire(1) {
		wait, cancel := context.WithTimeout(ctx, g.queueTimeout)
		err := g.slots.Acquire(wait, 1)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			g.metrics.DBRejected()
			return domain.Unavailablef("database busy: %d queries in flight, none finished within %s", g.maxInFlight, g.queueTimeout)
		}
	}
	defer g.slots.Release(1)

	qctx, cancel := context.WithTimeout(ctx, g.queryTimeout)
	defer cancel()
	start := time.Now()
	err := query(qctx)
	g.metrics.DBQuery(time.Since(start), err)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if errors.Is(qctx.Err(), context.DeadlineExceeded) {
		return &dbError{msg: fmt.Sprintf("database did not answer within %s", g.queryTimeout), cause: err}
	}
	return &dbError{msg: "database unavailable", cause: err}
}

// dbError is ErrUnavailable with a caller-facing message that leaves out the
// driver's details; the cause stays reachable for logs.
type dbError struct {
	msg   string
	cause error
}

func (e *dbError) Error() string   { return e.msg }
func (e *dbError) Unwrap() []error { return []error{domain.ErrUnavailable, e.cause} }
