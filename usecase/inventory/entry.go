package inventory

import (
	"slices"

	"github.com/gintoki/gintoki/domain"
)

// Entry is what the cache holds for one product: its stock rows with their
// versions, including tombstones of deleted rows so that an older event
// delivered again cannot bring a row back. An entry with no live row is a
// negative entry ("not found"). Warehouse details are not copied in: they
// are joined from the Directory at read time, so renaming or deactivating a
// warehouse touches no entry.
type Entry struct {
	// ExpiresAt (unix nanoseconds) is the last-resort TTL, jittered per
	// entry so that entries filled together do not expire together.
	ExpiresAt int64
	// Rows are ordered by WarehouseID.
	Rows []EntryRow
	// FillPos is the replication position the filling read reflected (nil
	// when unknown). A change the position covers, of a row the read did
	// not return, is older than the row's disappearance: the row was
	// deleted after it, and the change must not bring it back. That happens
	// when the database is ahead of the feed (the source down or catching
	// up) and its backlog arrives after a fill.
	FillPos domain.SourcePos
}

// EntryRow is one stock row of a cached product.
type EntryRow struct {
	WarehouseID int64
	QtySalable  int32
	Version     uint64
	Deleted     bool // tombstone: the row was deleted at Version
}

// find returns the index of the row for warehouseID, or where it would be
// inserted and false.
func (e *Entry) find(warehouseID int64) (int, bool) {
	return slices.BinarySearchFunc(e.Rows, warehouseID, func(r EntryRow, w int64) int {
		switch {
		case r.WarehouseID < w:
			return -1
		case r.WarehouseID > w:
			return 1
		}
		return 0
	})
}

// apply merges one row change into the entry and reports whether it changed
// anything. A change that does not supersede what the entry knows of that
// row (domain.Supersedes: newer version, or a delete at the same version) is
// ignored: that is what makes duplicates and re-deliveries harmless.
func (e *Entry) apply(warehouseID int64, qty int32, version uint64, deleted bool) bool {
	i, ok := e.find(warehouseID)
	if ok {
		if r := e.Rows[i]; !domain.Supersedes(r.Version, r.Deleted, version, deleted) {
			return false
		}
		e.Rows[i] = EntryRow{WarehouseID: warehouseID, QtySalable: qty, Version: version, Deleted: deleted}
		return true
	}
	e.Rows = slices.Insert(e.Rows, i, EntryRow{WarehouseID: warehouseID, QtySalable: qty, Version: version, Deleted: deleted})
	return true
}

// entryFromRows builds an entry from the database rows of one product, read
// at pos.
func entryFromRows(dst *Entry, rows []domain.StockWithWarehouse, pos domain.SourcePos) {
	dst.Rows = dst.Rows[:0]
	dst.FillPos = append(dst.FillPos[:0], pos...)
	for _, r := range rows {
		dst.apply(r.Stock.WarehouseID, r.Stock.QtySalable, r.Stock.Version, false)
	}
}
