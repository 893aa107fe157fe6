package inventory

import (
	"context"
	"fmt"
	"time"

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
func (s *Changes) ApplyStock(c domain.StockChange) Outcome {
	if c.Op == domain.OpTruncate {
		s.flush()
		return Flushed
	}
	if !s.cfg.CacheEnabled {
		return Older // nothing is cached, so nothing can be stale
	}
	pid := c.Row.ProductID
	s.locks.Lock(pid)
	defer s.locks.Unlock(pid)
	now := s.now()
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	s.flushMu.RLock()
	defer s.flushMu.RUnlock()
	// An expired entry is no longer served, but it is kept patched: the
	// refill that replaces it keeps its versions (keepExpiredVersions), so
	// a refill from a lagging replica cannot go back past them.
	held := s.store.Get(pid, e)
	live := held && e.ExpiresAt > now.UnixNano()
	mk, known := s.marks.get(now, pid, c.Row.WarehouseID)
	if known && replayed(mk.last, c.Position) {
		// From before the row's last change: the feed is replaying, and
		// what this change says was superseded already. (Versions would
		// tell for most changes; a null value has none.)
		return Older
	}
	if c.ByKey {
		switch {
		case known && mk.unknown:
			return Older
		case !known || !mk.hasLast:
			s.deleteUnknown(now, pid, c, e, held)
			if live {
				return Applied
			}
			return Marked
		}
		// The null value deletes what the change just before it wrote.
		c.Row.Version, c.Row.QtySalable = mk.lastVersion, 0
	}
	r := c.Row
	deleted := c.Op == domain.OpDelete
	// Every change leaves a marker, cached product or not: the entry it
	// patches may be evicted, and a later fill from a lagging replica must
	// still not go back past this version.
	s.marks.record(now, pid, r.WarehouseID, r.QtySalable, r.Version, deleted, c.GTID, c.Position)
	if !held {
		return Marked
	}
	if _, known := e.find(r.WarehouseID); !known && e.FillPos.Covers(c.GTID) {
		// The read that filled the entry had applied this change and did
		// not return the row: it was deleted after the change, whose
		// delete is still to come. Inserting it would bring it back.
		if live {
			return Older
		}
		return Marked
	}
	if !e.apply(r.WarehouseID, r.QtySalable, r.Version, deleted) {
		if live {
			return Older
		}
		return Marked
	}
	if err := s.store.Set(pid, e); err != nil {
		// Keeping the old entry would serve a value the feed moved past.
		s.store.Delete(pid)
		s.log.Warn("patched entry not stored; evicted", "product_id", pid, "err", err)
	}
	if live {
		return Applied
	}
	return Marked
}

// deleteUnknown applies a null-value delete of a row nothing is known of
// (no change of it seen within the marker TTL). Its version cannot be
// guessed from the entry: a fill may have read a re-insert the null comes
// before, and a tombstone at that version would hide the re-insert for good.
// So the product is evicted; markers keep what the entry knew of its other
// rows, and an unknown-version delete keeps fills from showing this one
// until a later change of it arrives (see markers.merge). Callers hold the
// product's lock; e holds the entry when held.
func (s *Changes) deleteUnknown(now time.Time, pid int64, c domain.StockChange, e *Entry, held bool) {
	if held {
		for _, row := range e.Rows {
			if row.WarehouseID != c.Row.WarehouseID {
				s.marks.remember(now, pid, row.WarehouseID, row.QtySalable, row.Version, row.Deleted)
			}
		}
		s.store.Delete(pid)
	}
	s.marks.recordUnknownDelete(now, pid, c.Row.WarehouseID, c.Position)
}

// ApplyWarehouse applies a warehouses change to the directory: a rename or
// (de)activation reaches every product at its next read, with no eviction.
func (s *Changes) ApplyWarehouse(c domain.WarehouseChange) Outcome {
	switch c.Op {
	case domain.OpTruncate:
		s.dir.Truncate()
		return Applied
	case domain.OpDelete:
		if c.ByKey && s.dir.DeleteByKey(c.Row.ID, c.Position) || !c.ByKey && s.dir.Delete(c.Row.ID, c.Row.Version, c.Position) {
			return Applied
		}
		return Older
	}
	if s.dir.Apply(c.Row, c.Position) {
		return Applied
	}
	return Older
}

// Invalidate drops the entry of one product: used when an event names the
// product but its content cannot be trusted (a poison value). The next read
// reloads it from the database.
func (s *Changes) Invalidate(productID int64) {
	if !s.cfg.CacheEnabled {
		return
	}
	s.locks.Lock(productID)
	defer s.locks.Unlock(productID)
	s.store.Delete(productID)
}

// FlushAll is the fleet-wide flush an operator asks for (see
// fleetcontrol): after a restore from a backup, a bulk load that reused
// versions, or an incident. Every entry and marker is dropped, and the
// warehouse directory is read again and replaces the one held: versions may
// have gone back, so merging by version would keep the wrong rows. When the
// database cannot be read the cache is flushed all the same and the error
// says the directory was kept.
func (s *Changes) FlushAll(ctx context.Context) error {
	s.flush()
	ws, err := s.warehouses(ctx)
	if err != nil {
		return fmt.Errorf("reload warehouse directory: %w", err)
	}
	s.dir.Replace(ws)
	return nil
}
