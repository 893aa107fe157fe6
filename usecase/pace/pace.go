// Package pace paces the background loops: those that wait for something
// outside to come back (a broker, a database, the binlog) with a delay that
// doubles from Min to Max, and those that run every so often, each ending
// as soon as its context does.
package pace

import (
	"context"
	"time"
)

// Backoff doubles from Min to Max. The zero value of the current delay is
// the start; Reset goes back to it.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur*2, b.Max)
	}
	return b.cur
}

// Reset starts over from Min, after an attempt made progress.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d, or until ctx ends; false means ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Every calls f every d until f returns false or ctx ends.
func Every(ctx context.Context, d time.Duration, f func() bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !f() {
				return
			}
		}
	}
}

// Until checks cond every d until it holds (true) or ctx ends (false).
func Until(ctx context.Context, d time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	done := false
	Every(ctx, d, func() bool { done = cond(); return !done })
	return done
}

// Drain takes from ch, without waiting, what is already there, handing each
// item to take while more reports room for it: a batch filled from what a
// producer has ready, with no latency added for what it has not. It returns
// false when ch was found closed.
func Drain[T any](ch <-chan T, more func() bool, take func(T)) (open bool) {
	for more() {
		select {
		case it, ok := <-ch:
			if !ok {
				return false
			}
			take(it)
		default:
			return true
		}
	}
	return true
}
