package inventory

import (
	"slices"

	"github.com/gintoki/gintoki/domain"
)

// Entry is what the cache holds for one product: its stock rows with their
// places in the rows' histories, including tombstones of deleted rows so that
// an older event delivered again cannot bring a row back. An entry with no
// live row is a negative entry ("not found"). Warehouse details are not
// copied in: they are joined from the Directory at read time, so renaming
// or deactivating a warehouse touches no entry.
type Entry struct {
	// ExpiresAt (unix nanoseconds) is the last-resort TTL, jittered per
	// entry so that entries filled together do not expire together.
	ExpiresAt int64
	// Rows are ordered by WarehouseID.
	Rows []EntryRow
	// FillPos is the replication position read before the filling read
	// (nil when unknown), FillHi the one read after it (binlog order
	// only): the read's domain.Span. A change the read reflected, of a row
	// it did not return, is older than the row's disappearance: the row
	// was deleted after it, and the change must not bring it back. That
	// happens when the database is ahead of the feed (the source down or
	// catching up) and its backlog arrives after a fill.
	FillPos domain.SourcePos
	FillHi  domain.SourcePos
}

// EntryRow is one stock row of a cached product.
type EntryRow struct {
	WarehouseID int64
	QtySalable  int32
	// Src, Version and Sub are the row's domain.Stamp (Version is its
	// Seq): the version column, or where the change that wrote it stands
	// in the binlog. Read rows (binlog order) have none: they stand where
	// the entry's read does.
	Src     domain.SourceID
	Version uint64
	Sub     uint64
	Deleted bool // tombstone: the row was deleted at its stamp
	// Read: the row is as the filling read returned it, in binlog order:
	// it stands at the read's span, not at a stamp of its own.
	Read bool
}

func (r *EntryRow) stamp() domain.Stamp {
	return domain.Stamp{Src: r.Src, Seq: r.Version, Sub: r.Sub}
}

// span is where the filling read stands (binlog order).
func (e *Entry) span() domain.Span { return domain.Span{Lo: e.FillPos, Hi: e.FillHi} }

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

// change is one image of a stock row to merge into an entry.
type change struct {
	warehouseID int64
	qty         int32
	stamp       domain.Stamp
	deleted     bool
	// gtid is the change's transaction when known (in binlog order it is
	// also the stamp's): in version order it still fences a change a
	// read reflected off a row the read did not return.
	gtid domain.GTID
}

// place says where c stands against what e knows of its row: a row held
// (by its stamp, or the read's span for a read row), or, for a row the
// read did not return, the read's span (a change the read reflected is
// older than the row's disappearance). found reports whether e holds the
// row.
func (e *Entry) place(o domain.Order, c change) (v domain.Verdict, i int, found bool) {
	i, found = e.find(c.warehouseID)
	switch {
	case found && !e.Rows[i].Read:
		v = o.Compare(e.Rows[i].stamp(), c.stamp)
		if v == domain.Newer && e.Rows[i].Deleted && !o.Binlog && e.FillPos.Covers(c.gtid) {
			// A tombstone either superseded the row the read returned (the
			// read reflected this change, so it cannot be newer) or
			// stands where the read had no row: then the read, having
			// reflected this change, saw the row disappear after it. A
			// tombstone of a null value, at the version of the change
			// before it in the feed, is below changes the read had
			// passed.
			v = domain.Older
		}
		return v, i, true
	case o.Binlog:
		return e.span().Place(c.stamp), i, found
	case e.FillPos.Covers(c.gtid):
		// The read reflected this change and had no row.
		return domain.Older, i, false
	}
	return domain.Newer, i, false
}

// apply merges one row change into the entry and reports whether it changed
// anything; unknown is true when the change cannot be placed against what
// the entry holds (binlog order: inside the read's span, or a change naming
// no transaction), and the entry must not be kept as it is. A change that
// does not supersede what the entry knows of that row (domain.Supersedes)
// is ignored: that is what makes duplicates and re-deliveries harmless.
func (e *Entry) apply(o domain.Order, c change) (changed, unknown bool) {
	v, i, found := e.place(o, c)
	if v == domain.Unknown {
		return false, true
	}
	knownDeleted := found && e.Rows[i].Deleted
	if !found && v == domain.Older {
		return false, false
	}
	if found && !domain.Supersedes(v, knownDeleted, c.deleted) {
		return false, false
	}
	e.set(c)
	return true, false
}

// set makes the row of c exactly c, whatever the entry held.
func (e *Entry) set(c change) {
	row := EntryRow{WarehouseID: c.warehouseID, QtySalable: c.qty, Src: c.stamp.Src, Version: c.stamp.Seq, Sub: c.stamp.Sub, Deleted: c.deleted}
	if i, found := e.find(c.warehouseID); found {
		e.Rows[i] = row
	} else {
		e.Rows = slices.Insert(e.Rows, i, row)
	}
}

// entryFromRows builds an entry from the database rows of one product, read
// at span sp: in version order each row with its version, in binlog order
// each row standing at the read.
func entryFromRows(dst *Entry, o domain.Order, rows []domain.StockWithWarehouse, sp domain.Span) {
	dst.Rows = dst.Rows[:0]
	dst.FillPos = append(dst.FillPos[:0], sp.Lo...)
	dst.FillHi = append(dst.FillHi[:0], sp.Hi...)
	for _, r := range rows {
		row := EntryRow{WarehouseID: r.Stock.WarehouseID, QtySalable: r.Stock.QtySalable, Version: r.Stock.Version, Read: o.Binlog}
		if i, found := dst.find(row.WarehouseID); found {
			dst.Rows[i] = row // a repeated row: the read is one state
		} else {
			dst.Rows = slices.Insert(dst.Rows, i, row)
		}
	}
}
