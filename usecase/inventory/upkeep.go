package inventory

import (
	"context"
	"fmt"
	"time"
)

// Directory exposes the warehouse directory (the change feed updates it).
func (s *Upkeep) Directory() *Directory { return s.dir }

// CacheEnabled reports whether the service was built with a cache.
func (s *Upkeep) CacheEnabled() bool { return s.cfg.CacheEnabled }

// CacheUsable reports whether reads currently use the cache.
func (s *Upkeep) CacheUsable() bool { return s.usable.Load() }

// LoadDirectory reads the whole warehouse table into the directory (there
// is nothing to read without one).
func (s *Upkeep) LoadDirectory(ctx context.Context) error {
	if s.dir.Implicit() {
		return nil
	}
	ws, sp, err := s.warehouses(ctx)
	if err != nil {
		return fmt.Errorf("load warehouse directory: %w", err)
	}
	s.dir.Load(ws, sp)
	return nil
}

// Ping checks that the database answers within the query deadline. It
// skips the read path's slots and metrics: readiness probes must neither
// wait behind reads nor count as reads.
func (s *Upkeep) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DBQueryTimeout)
	defer cancel()
	return s.repo.Ping(ctx)
}

// Flush drops every entry and marker, and makes fills that are in flight
// forget what they read: the change feed had a gap.
func (s *Upkeep) Flush() { s.flush() }

// SetCacheUsable turns the cache on or off for reads. Turned off (the
// change feed is lost or not caught up), reads go to the database; with
// StaleIfError the entries are kept to answer from when the database fails
// too, otherwise they are dropped. Turned on again, entries kept through
// the outage are dropped first (events may have been lost meanwhile, so
// nothing they hold is trusted) and, when clients' reads went to the
// database meanwhile, the warehouse directory is read again
// (refreshDirectory).
func (s *Upkeep) SetCacheUsable(usable bool) {
	if !s.cfg.CacheEnabled {
		return
	}
	if !usable {
		s.flushMu.Lock()
		was := s.usable.Swap(false)
		s.flushMu.Unlock()
		switch {
		case s.bootstrapping.Load():
			// Not used yet, and what the topics built so far is still
			// right: the feed resumes where it stopped (a gap would
			// flush). Nothing is held: holding would drop it all when the
			// feed is live again.
		case was && s.cfg.StaleIfError > 0:
			s.held.Store(true)
		case !s.held.Load():
			s.flush()
		}
		return
	}
	// A bootstrap's directory is the topics', and it promised no query.
	was, bootstrapped := s.usable.Load(), s.bootstrapping.Load()
	if s.held.Swap(false) {
		s.flush()
	}
	s.endBootstrap()
	if !was && !bootstrapped && s.bypassed.Swap(false) {
		s.refreshDirectory()
	}
	s.usable.Store(true)
}

// SetFeedClock tells the cache when the change feed last gave a sign of
// life (a message, a broker answer, a source heartbeat); stale-if-error
// answers report how long ago that was.
func (s *Upkeep) SetFeedClock(lastSign func() time.Time) { s.feedSign.Store(&lastSign) }

// CanAnswer reports whether reads can be answered without the database:
// from the cache in use, or from the entries kept while the feed is lost,
// within StaleIfError.
func (s *Upkeep) CanAnswer() bool {
	if !s.cfg.CacheEnabled {
		return false
	}
	if s.usable.Load() {
		return true
	}
	_, ok := s.feedSilence()
	return ok && s.store.Len() > 0
}

// SweepMarkers drops expired markers and returns how many are left.
func (s *Upkeep) SweepMarkers() int { return s.marks.sweep(s.now()) }
