package inventory

import (
	"context"
	"fmt"
)

// Directory exposes the warehouse directory (the change feed updates it).
func (s *Upkeep) Directory() *Directory { return s.dir }

// CacheEnabled reports whether the service was built with a cache.
func (s *Upkeep) CacheEnabled() bool { return s.cfg.CacheEnabled }

// CacheUsable reports whether reads currently use the cache.
func (s *Upkeep) CacheUsable() bool { return s.usable.Load() }

// LoadDirectory reads the whole warehouse table into the directory.
func (s *Upkeep) LoadDirectory(ctx context.Context) error {
	ws, err := s.warehouses(ctx)
	if err != nil {
		return fmt.Errorf("load warehouse directory: %w", err)
	}
	s.dir.Load(ws)
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

// SetCacheUsable turns the cache on or off for reads. Turning it off
// flushes it: while off, no event reaches it, so what it holds would rot.
func (s *Upkeep) SetCacheUsable(usable bool) {
	if !s.cfg.CacheEnabled {
		return
	}
	if !usable {
		s.flushMu.Lock()
		s.usable.Store(false)
		s.flushMu.Unlock()
		s.flush()
		return
	}
	s.usable.Store(true)
}

// SweepMarkers drops expired markers and returns how many are left.
func (s *Upkeep) SweepMarkers() int { return s.marks.sweep(s.now()) }
