package middleware

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The request deadline (see RequestScope) bounds the rest of the chain: the
// reader honours the context, so a slow database answers 504 instead of
// holding the request open. It is carried by a context that behaves like one
// from context.WithTimeout but starts its timer only when something waits on
// Done. A cache hit never does; for it, a timer plus registration in the
// connection context's children map was the largest cost of the whole
// middleware chain on a live server.

// deadlineContext is a context with a deadline whose timer is armed lazily:
// by Done, by Err once the deadline has passed, or after release. Until
// then it answers from its parent and the clock.
type deadlineContext struct {
	context.Context // the parent
	deadline        time.Time

	mu       sync.Mutex // serialises arming and release
	released atomic.Bool
	armed    atomic.Pointer[armedDeadline]
}

// armedDeadline is the real context.WithDeadline child, once needed.
type armedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// init sets the parent and a deadline d from now (or the parent's, if
// sooner); it is for contexts that embed a deadlineContext.
func (c *deadlineContext) init(parent context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(deadline) {
		deadline = pd
	}
	c.Context, c.deadline = parent, deadline
}

func (c *deadlineContext) arm() *armedDeadline {
	if a := c.armed.Load(); a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a
	}
	ctx, cancel := context.WithDeadline(c.Context, c.deadline)
	if c.released.Load() {
		cancel()
	}
	a := &armedDeadline{ctx: ctx, cancel: cancel}
	c.armed.Store(a)
	return a
}

// release ends the context as the cancel func of context.WithTimeout does:
// later Err calls report context.Canceled and Done is closed.
func (c *deadlineContext) release() {
	c.mu.Lock()
	c.released.Store(true)
	a := c.armed.Load()
	c.mu.Unlock()
	if a != nil {
		a.cancel()
	}
}

func (c *deadlineContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineContext) Done() <-chan struct{} { return c.arm().ctx.Done() }

func (c *deadlineContext) Err() error {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	// Arming here makes Done, Err and context.Cause agree from now on.
	if c.released.Load() || !time.Now().Before(c.deadline) {
		return c.arm().ctx.Err()
	}
	return nil
}

// Value goes through the armed child once there is one, so context.Cause
// and children created with context.WithCancel see its cancellation.
func (c *deadlineContext) Value(key any) any {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.Context.Value(key)
}

func (c *deadlineContext) String() string { return "httpapi.deadlineContext" }
