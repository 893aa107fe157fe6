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
	// Evicted: the event could not be placed against the cached entry
	// (binlog order: it committed while the entry's read ran, or names
	// no transaction); the product was dropped, the next read reloads it.
	Evicted
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
	case Evicted:
		return "evicted"
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
	if s.bootstrapping.Load() {
		// Under flushMu: a flush that ends the bootstrap cannot slip
		// between this check and the store write.
		return s.bootstrapStock(c, e)
	}
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
	ch := change{warehouseID: c.Row.WarehouseID, qty: c.Row.QtySalable, stamp: s.stockStamp(c),
		deleted: c.Op == domain.OpDelete, gtid: c.GTID}
	s.dir.Know(c.Row.WarehouseID)
	if c.ByKey {
		switch {
		case known && mk.unknown:
			return Older
		case !known || !mk.hasLast || s.cfg.StockOrder.Binlog:
			// In binlog order the change before it does not place it
			// either: it may be in that change's transaction or in any
			// later one, so a read that reflected that change may or may
			// not reflect the delete.
			s.deleteUnknown(now, pid, c, e, held)
			if live {
				return Applied
			}
			return Marked
		}
		// The null value deletes what the change just before it wrote.
		ch.stamp, ch.qty = mk.lastStamp, 0
	}
	// Every change leaves a marker, cached product or not: the entry it
	// patches may be evicted, and a later fill from a lagging replica must
	// still not go back past this change.
	s.marks.record(now, pid, ch, c.Position)
	if !held {
		return Marked
	}
	changed, unknown := e.apply(s.cfg.StockOrder, ch)
	switch {
	case unknown:
		// The entry's read may or may not have seen this change: drop
		// the entry rather than guess; the marker corrects the refill.
		s.store.Delete(pid)
		return Evicted
	case !changed && live:
		return Older
	case !changed:
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

// stockStamp places a stock change in the stock table's order: its version,
// or its transaction and place in it (unplaced when it names none, as a
// snapshot row of a source that does not say its position).
func (s *core) stockStamp(c domain.StockChange) domain.Stamp {
	if !s.cfg.StockOrder.Binlog {
		return domain.Stamp{Seq: c.Row.Version}
	}
	return binlogStamp(c.GTID, c.Sub)
}

// warehouseStamp places a warehouse change in the warehouse table's order.
func (s *core) warehouseStamp(c domain.WarehouseChange) domain.Stamp {
	if !s.cfg.WarehouseOrder.Binlog {
		return domain.Stamp{Seq: c.Row.Version}
	}
	return binlogStamp(c.GTID, c.Sub)
}

func binlogStamp(g domain.GTID, sub uint64) domain.Stamp {
	if !g.Known() {
		return domain.Stamp{}
	}
	return domain.Stamp{Src: g.Source, Seq: g.Seq, Sub: sub}
}

// deleteUnknown applies a null-value delete of a row nothing is known of
// (no change of it seen within the marker TTL), or of any row in binlog
// order, where a null value has no place. Its version cannot be guessed
// from the entry: a fill may have read a re-insert the null comes
// before, and a tombstone at that version would hide the re-insert for good.
// So the product is evicted; markers keep what the entry knew of its other
// rows, and an unknown-version delete keeps fills from showing this one
// until a later change of it arrives (see markers.merge). Callers hold the
// product's lock; e holds the entry when held.
func (s *Changes) deleteUnknown(now time.Time, pid int64, c domain.StockChange, e *Entry, held bool) {
	if held {
		for _, row := range e.Rows {
			// A row as read (binlog order) stands where the read did; the
			// next read is at least as new, so there is nothing to keep.
			if row.WarehouseID != c.Row.WarehouseID && !row.Read {
				s.marks.remember(now, pid, change{warehouseID: row.WarehouseID, qty: row.QtySalable, stamp: row.stamp(), deleted: row.Deleted})
			}
		}
		s.store.Delete(pid)
	}
	s.marks.recordUnknownDelete(now, pid, c.Row.WarehouseID, c.Position)
}

// ApplyWarehouse applies a warehouses change to the directory: a rename or
// (de)activation reaches every product at its next read, with no eviction.
func (s *Changes) ApplyWarehouse(c domain.WarehouseChange) Outcome {
	out := s.applyWarehouse(c)
	if s.dir.TakeReload() {
		s.reloadDirectory()
	}
	return out
}

func (s *Changes) applyWarehouse(c domain.WarehouseChange) Outcome {
	switch c.Op {
	case domain.OpTruncate:
		s.dir.Truncate()
		return Applied
	case domain.OpDelete:
		if c.ByKey && s.dir.DeleteByKey(c.Row.ID, c.Position) || !c.ByKey && s.dir.Delete(c.Row.ID, s.warehouseStamp(c), c.Position) {
			return Applied
		}
		return Older
	}
	if s.dir.Apply(c.Row, s.warehouseStamp(c), c.Position) {
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
	if s.dir.Implicit() {
		return nil
	}
	ws, sp, err := s.warehouses(ctx)
	if err != nil {
		return fmt.Errorf("reload warehouse directory: %w", err)
	}
	s.dir.Replace(ws, sp)
	return nil
}
