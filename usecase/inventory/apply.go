package inventory

import (
	"github.com/gintoki/gintoki/domain"
)

// Outcome says what applying one change event did.
type Outcome int

// The outcomes of an applied event.
const (
	// Applied: a cached entry or the directory now reflects the change.
	Applied Outcome = iota
	// Older: the cache already knew this version or a newer one.
	Older
	// Marked: the product was not cached; its marker corrects later fills.
	Marked
	// Flushed: the event dropped the whole cache (a truncate).
	Flushed
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Older:
		return "older"
	case Marked:
		return "marked"
	case Flushed:
		return "flushed"
	}
	return "unknown"
}

// ApplyStock applies a stock_items change. A cached product is patched in
// place (no database round trip); an uncached one gets a marker.
func (s *Service) ApplyStock(c domain.StockChange) Outcome {
	if c.Op == domain.OpTruncate {
		s.Flush()
		return Flushed
	}
	r := c.Row
	deleted := c.Op == domain.OpDelete
	pid := r.ProductID

	if !s.cfg.CacheEnabled {
		return Older // nothing is cached, so nothing can be stale
	}
	s.locks.Lock(pid)
	defer s.locks.Unlock(pid)
	now := s.now()
	// Every change leaves a marker, cached product or not: the entry it
	// patches may expire or be evicted, and a later fill from a lagging
	// replica must still not go back past this version.
	s.marks.record(now, pid, r.WarehouseID, r.QtySalable, r.Version, deleted)
	{
		e := s.entries.Get().(*Entry)
		defer s.entries.Put(e)
		s.flushMu.RLock()
		defer s.flushMu.RUnlock()
		if s.store.Get(pid, e) {
			if e.ExpiresAt > now.UnixNano() {
				if !e.apply(r.WarehouseID, r.QtySalable, r.Version, deleted) {
					return Older
				}
				if err := s.storeSet(pid, e); err != nil {
					// Keeping the old entry would serve a value the feed moved past.
					s.storeDelete(pid)
					s.log.Warn("patched entry not stored; evicted", "product_id", pid, "err", err)
				}
				return Applied
			}
			s.storeDelete(pid)
		}
	}
	return Marked
}

// ApplyWarehouse applies a warehouses change to the directory: a rename or
// (de)activation reaches every product at its next read, with no eviction.
func (s *Service) ApplyWarehouse(c domain.WarehouseChange) Outcome {
	switch c.Op {
	case domain.OpTruncate:
		s.dir.Truncate()
		return Applied
	case domain.OpDelete:
		if s.dir.Delete(c.Row.ID, c.Row.Version) {
			return Applied
		}
		return Older
	}
	if s.dir.Observe(c.Row) {
		return Applied
	}
	return Older
}

// Invalidate drops the entry of one product: used when an event names the
// product but its content cannot be trusted (a poison value). The next read
// reloads it from the database.
func (s *Service) Invalidate(productID int64) {
	if !s.cfg.CacheEnabled {
		return
	}
	s.locks.Lock(productID)
	defer s.locks.Unlock(productID)
	s.storeDelete(productID)
}

// Flush drops every entry and marker, and makes fills that are in flight
// forget what they read.
func (s *Service) Flush() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.generation.Add(1)
	if s.store != nil {
		s.store.Reset()
	}
	if s.hot != nil {
		s.hot.clear()
	}
	s.marks.forget()
}

// SetCacheUsable turns the cache on or off for reads. Turning it off
// flushes it: while off, no event reaches it, so what it holds would rot.
func (s *Service) SetCacheUsable(usable bool) {
	if !s.cfg.CacheEnabled {
		return
	}
	if !usable {
		s.flushMu.Lock()
		s.usable.Store(false)
		s.flushMu.Unlock()
		s.Flush()
		return
	}
	s.usable.Store(true)
}

// SweepMarkers drops expired markers and returns how many are left.
func (s *Service) SweepMarkers() int { return s.marks.sweep(s.now()) }
