// Package readiness decides whether an instance should receive traffic.
//
// The policy serves two needs at once. A node in its own start gap (its
// warehouse directory not loaded, its change feed not yet caught up once,
// its prewarm not done) takes no traffic: it would answer from the database
// alone and hand the load balancer a slow node. But once started, a node
// stays ready through problems the whole fleet shares: when the feed goes
// away (broker or source) it bypasses its cache and answers from the
// database, and when the database goes away it answers what its cache
// holds. Pulling every node out of the load balancer then would turn a Kafka
// or database blip into a full outage. A started node is not ready only when
// it can answer nothing: cache bypassed and database unreachable.
package readiness

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Database is what readiness needs of the database.
type Database interface {
	Ping(ctx context.Context) error
}

// Condition is one thing that must hold, e.g. "change feed caught up". It
// returns nil when satisfied, or why not.
type Condition func() error

// Checker applies the policy. It is safe for concurrent use.
type Checker struct {
	db      Database
	timeout time.Duration
	startup []Condition
	// cacheAnswers reports whether reads can be answered without the
	// database: from the cache in use, or entries held for stale-if-error
	// (nil: the node has no cache).
	cacheAnswers func() bool

	mu      sync.Mutex
	started bool
	// last is the latest verdict and when it was reached: probes, the gRPC
	// health mirror and the metric share it instead of pinging each time.
	last   error
	lastAt time.Time
	now    func() time.Time
	// watchers mirror the verdict (Watch); told is whether they have had
	// one, toldReady which.
	watchers  []func(ready bool)
	told      bool
	toldReady bool
}

// reuseFor is how long a verdict is reused.
const reuseFor = 500 * time.Millisecond

// New returns a checker. startup conditions must all hold once; after that
// they are not asked again. cacheAnswers may be nil. timeout bounds the
// database ping.
func New(db Database, timeout time.Duration, cacheAnswers func() bool, startup ...Condition) *Checker {
	return &Checker{db: db, timeout: timeout, startup: startup, cacheAnswers: cacheAnswers, now: time.Now}
}

// AddStartup appends a start-gap condition; used by modules that start after
// the checker exists.
func (c *Checker) AddStartup(cond Condition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startup = append(c.startup, cond)
}

// Watch has f called with the verdict whenever it turns (and with the
// current one at once, if there is one), before Ready returns the new
// verdict: a mirror of it elsewhere, such as the gRPC health service, is
// never behind what a probe of /readyz has seen. A load balancer that sees
// a restarted node ready on /readyz and stops the next node then finds the
// first one serving on gRPC too. f runs under the checker's lock: it must be
// quick and must not call the checker.
func (c *Checker) Watch(f func(ready bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, f)
	if c.told {
		f(c.toldReady)
	}
}

// Ready returns nil when the instance should take traffic, or why not.
func (c *Checker) Ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); !c.lastAt.IsZero() && now.Sub(c.lastAt) < reuseFor {
		return c.last
	}
	c.last, c.lastAt = c.evaluate(ctx), c.now()
	if ready := c.last == nil; !c.told || ready != c.toldReady {
		c.told, c.toldReady = true, ready
		for _, f := range c.watchers {
			f(ready)
		}
	}
	return c.last
}

func (c *Checker) evaluate(ctx context.Context) error {
	if !c.started {
		for _, cond := range c.startup {
			if err := cond(); err != nil {
				return err
			}
		}
		c.started = true
	}
	if c.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.db.Ping(ctx)
	if err == nil {
		return nil
	}
	if c.cacheAnswers != nil && c.cacheAnswers() {
		return nil // cached products still answer; misses fail fast with 503
	}
	return fmt.Errorf("database unreachable and no cache to answer from: %w", err)
}
