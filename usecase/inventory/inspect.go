package inventory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Direction says which way a cached product differs from the database.
type Direction int

// The directions of a divergence.
const (
	// Behind: the database has a change the cache does not (a missed event).
	Behind Direction = iota
	// Ahead: the cache holds a version the database does not have (a forged
	// or replayed event with a huge version, or a database restored from a
	// backup: versions went back without any event).
	Ahead
)

func (d Direction) String() string {
	if d == Ahead {
		return "ahead"
	}
	return "behind"
}

// InspectStats reports one inspection round.
type InspectStats struct {
	Checked int
	// Stale are the products whose cache stayed different from the database
	// across the lag window, by direction; they were evicted.
	Stale map[Direction][]int64
}

// inspectBatch bounds one comparison query.
const inspectBatch = 500

// Inspect is the consistency inspector. It takes up to sample products from
// the sample of recent reads (what is served most) and up to scan more from a walk over
// the whole store that goes on where the last round stopped (so an entry
// read rarely is reached too), compares their entries with the database,
// waits lagWindow and compares again. A product that differs both times in
// the same way, with neither the cache nor the database having moved, is
// not an event in flight but a wrong entry: it is evicted, its markers are
// forgotten (they may carry the same wrong versions, and would bring them
// back into the next fill), and it is reported.
func (s *Upkeep) Inspect(ctx context.Context, sample, scan int, lagWindow time.Duration) (InspectStats, error) {
	st := InspectStats{Stale: map[Direction][]int64{}}
	if !s.cfg.CacheEnabled || !s.usable.Load() {
		return st, nil
	}
	ids := s.reads.take(sample)
	if scan > 0 {
		ids = append(ids, s.store.Scan(scan)...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return st, nil
	}
	st.Checked = len(ids)
	first, err := s.divergences(ctx, ids)
	if err != nil || len(first) == 0 {
		return st, err
	}
	select {
	case <-ctx.Done():
		return st, ctx.Err()
	case <-time.After(lagWindow):
	}
	suspects := make([]int64, 0, len(first))
	for id := range first {
		suspects = append(suspects, id)
	}
	second, err := s.divergences(ctx, suspects)
	if err != nil {
		return st, err
	}
	for id, d := range second {
		if first[id] != d {
			continue // something moved: an event or a write in flight
		}
		s.evictDivergent(id)
		st.Stale[d.direction] = append(st.Stale[d.direction], id)
		s.log.Debug("consistency inspector: cache entry differs from the database; evicted",
			"product_id", id, "direction", d.direction.String(), "warehouse_id", d.warehouseID,
			"cached_version", d.cached.version, "cached_deleted", d.cached.deleted, "cached_present", d.cached.present,
			"db_version", d.db.version, "db_present", d.db.present)
	}
	s.logRound(st)
	return st, nil
}

// logRound writes one line for a round that evicted anything: a missed
// event often hits many products at once, and a line each would bury the
// log. The products themselves are logged at debug level.
func (s *Upkeep) logRound(st InspectStats) {
	behind, ahead := st.Stale[Behind], st.Stale[Ahead]
	if len(behind)+len(ahead) == 0 {
		return
	}
	const shown = 10
	slices.Sort(behind)
	slices.Sort(ahead)
	s.log.Warn("consistency inspector: cache entries differed from the database; evicted",
		"checked", st.Checked, "behind", len(behind), "ahead", len(ahead),
		"behind_products", behind[:min(len(behind), shown)], "ahead_products", ahead[:min(len(ahead), shown)])
}

// evictDivergent drops a product's entry and markers under its lock.
func (s *Upkeep) evictDivergent(productID int64) {
	s.locks.Lock(productID)
	defer s.locks.Unlock(productID)
	s.store.Delete(productID)
	s.marks.forgetProduct(productID)
}

// divergence is the first row where a cached product differs from the
// database.
type divergence struct {
	warehouseID int64
	direction   Direction
	cached, db  rowSeen
}

type rowSeen struct {
	present bool // a row (or, in the cache, a tombstone) is there
	deleted bool
	version uint64
	qty     int32
}

// divergences compares the held entries of ids (live or expired: an expired
// entry still guides its refill) with the database.
func (s *Upkeep) divergences(ctx context.Context, ids []int64) (map[int64]divergence, error) {
	out := map[int64]divergence{}
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	for chunk := range slices.Chunk(ids, inspectBatch) {
		rows, sp, err := s.loadToInspect(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("inspect %d products: %w", len(chunk), err)
		}
		byProduct := groupByProduct(rows)
		for _, id := range chunk {
			if !s.store.Get(id, e) {
				continue // not cached any more: nothing to be wrong
			}
			d, ok := diverges(e, byProduct[id])
			if s.cfg.StockOrder.Binlog {
				d, ok = divergesInBinlogOrder(e, byProduct[id], sp.Lo)
			}
			if ok {
				out[id] = d
			}
		}
	}
	return out, nil
}

// loadToInspect reads the rows of ids, in binlog order with the positions
// around the read.
func (s *Upkeep) loadToInspect(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, fillSpan, error) {
	if s.cfg.StockOrder.Binlog {
		return s.loadToFill(ctx, ids)
	}
	rows, err := s.load(ctx, ids)
	return rows, fillSpan{}, err
}

// divergesInBinlogOrder compares an entry with the database rows of its
// product read at position db, when rows carry no version: by presence and
// value. The direction is told by where the cached row stands: a change of
// the feed the database had not applied when read makes the cache ahead
// (or the database a lagging replica); anything else is a change the cache
// missed.
func divergesInBinlogOrder(e *Entry, rows []domain.StockWithWarehouse, db domain.SourcePos) (divergence, bool) {
	direction := func(c EntryRow) Direction {
		if !c.Read && c.stamp().Placed() && !db.Covers(domain.GTID{Source: c.Src, Seq: c.Version}) {
			return Ahead
		}
		return Behind
	}
	inDB := make(map[int64]bool, len(rows))
	for _, r := range rows {
		inDB[r.Stock.WarehouseID] = true
		d := divergence{warehouseID: r.Stock.WarehouseID, db: rowSeen{present: true, qty: r.Stock.QtySalable}}
		i, ok := e.find(r.Stock.WarehouseID)
		if !ok {
			d.direction = Behind // a row the cache never heard of
			return d, true
		}
		c := e.Rows[i]
		d.cached = rowSeen{present: true, deleted: c.Deleted, version: c.Version, qty: c.QtySalable}
		if c.Deleted || c.QtySalable != r.Stock.QtySalable {
			d.direction = direction(c)
			return d, true
		}
	}
	for _, c := range e.Rows {
		if !c.Deleted && !inDB[c.WarehouseID] {
			return divergence{warehouseID: c.WarehouseID, direction: direction(c),
				cached: rowSeen{present: true, version: c.Version, qty: c.QtySalable}}, true
		}
	}
	return divergence{}, false
}

// diverges compares an entry with the database rows of its product, by
// version (the version order's tie rule, domain.Supersedes).
func diverges(e *Entry, rows []domain.StockWithWarehouse) (divergence, bool) {
	inDB := make(map[int64]bool, len(rows))
	for _, r := range rows {
		inDB[r.Stock.WarehouseID] = true
		db := rowSeen{present: true, version: r.Stock.Version, qty: r.Stock.QtySalable}
		d := divergence{warehouseID: r.Stock.WarehouseID, db: db}
		i, ok := e.find(r.Stock.WarehouseID)
		if !ok {
			d.direction = Behind // a row the cache never heard of
			return d, true
		}
		c := e.Rows[i]
		d.cached = rowSeen{present: true, deleted: c.Deleted, version: c.Version, qty: c.QtySalable}
		switch {
		case c.Version < db.version:
			d.direction = Behind
		case c.Version > db.version || c.Deleted:
			// A tombstone at the row's own version: the cache saw a
			// delete the database does not show.
			d.direction = Ahead
		case c.QtySalable != db.qty:
			// The same version with another value: a write that did not
			// bump the version, whose event was taken for a duplicate.
			d.direction = Behind
		default:
			continue
		}
		return d, true
	}
	for _, c := range e.Rows {
		if !c.Deleted && !inDB[c.WarehouseID] {
			// Served but gone from the database: a delete the cache missed.
			return divergence{warehouseID: c.WarehouseID, direction: Behind,
				cached: rowSeen{present: true, version: c.Version, qty: c.QtySalable}}, true
		}
	}
	return divergence{}, false
}
