package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// dbGuard protects the database from the read path: at most maxInFlight
// queries at once, a short wait for a slot and then a fast "unavailable"
// instead of a queue that grows for tens of seconds, and a deadline on every
// query.
type dbGuard struct {
	slots        chan struct{}
	queueTimeout time.Duration
	queryTimeout time.Duration
	metrics      Metrics
}

func newDBGuard(maxInFlight int, queueTimeout, queryTimeout time.Duration, m Metrics) *dbGuard {
	if maxInFlight < 1 {
		maxInFlight = 1
	}
	return &dbGuard{slots: make(chan struct{}, maxInFlight), queueTimeout: queueTimeout, queryTimeout: queryTimeout, metrics: m}
}

// do runs query with a slot and a deadline. Errors come back as
// domain.ErrUnavailable unless the caller's own context ended first.
func (g *dbGuard) do(ctx context.Context, what string, query func(context.Context) error) error {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.queueTimeout)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			g.metrics.DBRejected()
			return domain.Unavailablef("database busy: %d queries in flight, none finished within %s", cap(g.slots), g.queueTimeout)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()

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
