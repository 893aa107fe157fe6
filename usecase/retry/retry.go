// Package retry paces the loops that wait for something outside to come
// back (a broker, a database, the binlog): a delay that doubles from Min to
// Max, and a sleep that ends early with its context.
package retry

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
