package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// InspectStats reports one inspection round.
type InspectStats struct {
	Checked int
	// Stale are products whose cache stayed behind the database across the
	// lag window; they were evicted.
	Stale []int64
}

// Inspect is the consistency inspector: it samples up to n products from
// the hot set (what is actually being served), compares their entries with
// the database, waits lagWindow and compares again. A row still behind the
// database both times, with the cache not having moved, is not an event in
// flight but a stale entry: the product is evicted and reported. A cache
// ahead of the database (a lagging replica) is not stale.
func (s *Service) Inspect(ctx context.Context, n int, lagWindow time.Duration) (InspectStats, error) {
	var st InspectStats
	if s.hot == nil || !s.usable.Load() {
		return st, nil
	}
	ids := s.hot.sample(n)
	if len(ids) == 0 {
		return st, nil
	}
	st.Checked = len(ids)
	first, err := s.behind(ctx, ids)
	if err != nil {
		return st, err
	}
	if len(first) == 0 {
		return st, nil
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
	second, err := s.behind(ctx, suspects)
	if err != nil {
		return st, err
	}
	for id, lag := range second {
		if prev, ok := first[id]; ok && prev.cached == lag.cached {
			s.Invalidate(id)
			st.Stale = append(st.Stale, id)
			s.log.Warn("consistency inspector: stale cache entry evicted", "product_id", id,
				"warehouse_id", lag.warehouseID, "cached_version", lag.cached, "db_version", lag.db)
		}
	}
	return st, nil
}

type rowLag struct {
	warehouseID int64
	cached, db  uint64 // cached 0: the cache does not know the row
}

// behind returns, per product, the first row where the cache is older than
// the database.
func (s *Service) behind(ctx context.Context, ids []int64) (map[int64]rowLag, error) {
	rows, err := s.load(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("inspect %d products: %w", len(ids), err)
	}
	byProduct := groupByProduct(rows)
	out := map[int64]rowLag{}
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	for _, id := range ids {
		if !s.store.Get(id, e) {
			continue // not cached any more: nothing to be stale
		}
		if lag, ok := entryBehind(e, byProduct[id]); ok {
			out[id] = lag
		}
	}
	return out, nil
}

// entryBehind compares an entry with the database rows of its product.
func entryBehind(e *Entry, rows []domain.StockWithWarehouse) (rowLag, bool) {
	inDB := make(map[int64]bool, len(rows))
	for _, r := range rows {
		inDB[r.Stock.WarehouseID] = true
		i, ok := e.find(r.Stock.WarehouseID)
		if !ok {
			return rowLag{warehouseID: r.Stock.WarehouseID, db: r.Stock.Version}, true
		}
		if e.Rows[i].Version < r.Stock.Version {
			return rowLag{warehouseID: r.Stock.WarehouseID, cached: e.Rows[i].Version, db: r.Stock.Version}, true
		}
	}
	for _, r := range e.Rows {
		if !r.Deleted && !inDB[r.WarehouseID] {
			// Served but gone from the database: a delete the cache missed.
			return rowLag{warehouseID: r.WarehouseID, cached: r.Version}, true
		}
	}
	return rowLag{}, false
}
