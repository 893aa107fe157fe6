// Package readiness decides whether an instance should receive traffic:
// its database answers, its warehouse directory is loaded, and (when it has
// one) its change feed is caught up.
package readiness

import (
	"context"
	"fmt"
	"time"
)

// Database is what readiness needs of the database.
type Database interface {
	Ping(ctx context.Context) error
}

// Condition is one more thing that must hold, e.g. "change feed caught up".
// It returns nil when satisfied, or why not.
type Condition func() error

// Checker combines the database ping with extra conditions.
type Checker struct {
	db         Database
	conditions []Condition
	timeout    time.Duration
}

// New returns a checker; timeout bounds the database ping.
func New(db Database, timeout time.Duration, conditions ...Condition) *Checker {
	return &Checker{db: db, conditions: conditions, timeout: timeout}
}

// Add appends a condition; used by modules that start after the checker exists.
func (c *Checker) Add(cond Condition) { c.conditions = append(c.conditions, cond) }

// Ready returns nil when the instance can take traffic, or the first reason
// it cannot.
func (c *Checker) Ready(ctx context.Context) error {
	for _, cond := range c.conditions {
		if err := cond(); err != nil {
			return err
		}
	}
	if c.db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.db.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}
