package inventory

import "github.com/gintoki/gintoki/domain"

// Bootstrap from the change topics (Config.Bootstrap, --cache-bootstrap=
// topic): the consumer reads the stock and warehouse topics from their
// first offsets, and the events build the cache instead of patching it. A
// topic Debezium or the relay keeps compacted holds the newest record of
// every row (the initial snapshot, then every change), so once the feed has
// caught up the cache holds every product the topic does, without a query
// to the database.
//
// The bootstrap holds from the service's construction: the parts that start
// before the change feed (the background jobs that would read the directory
// from the database) must already see it. While bootstrapping nothing reads
// the cache (it is not usable: reads go to the database) and no fill runs,
// so no marker is kept either: the events apply in feed order, the ordering
// rule deciding between changes of one row, and a change that cannot be
// placed (binlog order, a snapshot row naming no transaction) is taken as
// the feed has it. Nothing is held for stale-if-error either: no answer was
// ever given from what is being built. The bootstrap ends when the cache is
// first used (SetCacheUsable(true)): the directory then counts as loaded,
// from the warehouses topic alone.

// AbandonBootstrap ends a bootstrap that cannot happen (the topics may not
// hold every row): the cache fills from the database, directory included.
func (s *Upkeep) AbandonBootstrap() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.bootstrapping.Swap(false) {
		s.abandoned.Store(true)
	}
}

// Bootstrapping reports whether the cache is being built from the topics.
func (s *Upkeep) Bootstrapping() bool { return s.bootstrapping.Load() }

// BootstrapAbandoned reports whether a bootstrap was interrupted by a flush
// (a gap, a lost feed): the directory must then be read from the database.
func (s *Upkeep) BootstrapAbandoned() bool { return s.abandoned.Load() }

// endBootstrap is called as the cache is first used. A warehouses topic
// that held no warehouse at all (no snapshot taken yet) cannot be the
// directory: every product would look unstocked, so the directory is read
// from the database then, as after an abandoned bootstrap.
func (s *core) endBootstrap() {
	if !s.bootstrapping.Swap(false) {
		return
	}
	if s.dir.Len() == 0 && !s.dir.Implicit() {
		s.abandoned.Store(true)
		s.log.Warn("cache bootstrap: the warehouses topic held no warehouse (no snapshot taken?); reading the warehouse directory from the database")
		return
	}
	s.dir.loaded.Store(true)
}

// bootstrapStock applies a stock change while bootstrapping: a product not
// cached yet gets an entry. Callers hold the product's lock and flushMu
// (read); e is scratch space.
func (s *Changes) bootstrapStock(c domain.StockChange, e *Entry) Outcome {
	pid := c.Row.ProductID
	if !s.store.Get(pid, e) {
		e.Rows, e.FillPos, e.FillHi = e.Rows[:0], e.FillPos[:0], e.FillHi[:0]
		e.ExpiresAt = s.expiry(s.now())
	}
	ch := change{warehouseID: c.Row.WarehouseID, qty: c.Row.QtySalable, stamp: s.stockStamp(c),
		deleted: c.Op == domain.OpDelete, gtid: c.GTID}
	if c.ByKey {
		// A null value deletes what the row's change before it wrote: the
		// row as this entry holds it.
		i, ok := e.find(c.Row.WarehouseID)
		if !ok {
			return Older
		}
		ch.stamp, ch.qty = e.Rows[i].stamp(), 0
	}
	s.dir.Know(c.Row.WarehouseID)
	changed, unknown := e.apply(s.cfg.StockOrder, ch)
	if unknown {
		e.set(ch)
		changed = true
	}
	if !changed {
		return Older
	}
	if err := s.store.Set(pid, e); err != nil {
		s.log.Warn("bootstrapped entry not stored", "product_id", pid, "err", err)
		s.store.Delete(pid)
	}
	return Applied
}
