package inventory

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gintoki/gintoki/domain"
)

// Directory is the in-memory warehouse table, joined with cached stock rows
// at read time. It is small (warehouses number in the hundreds), so writers
// copy it and readers load it with one atomic read and no lock.
//
// It takes changes from two sides: change events (Apply, Delete,
// DeleteByKey, Truncate) and database reads (Load, Observe). The ordering
// rule (domain.Order) decides between them, with two differences: only an
// event can lift a delete of unknown place, and only events are ordered by
// feed position, which is how a null-value delete finds the change it
// deletes. An event that cannot be placed against what the directory holds
// (binlog order: its transaction committed while the read ran, or it names
// none) is taken: events are the feed's word, and the directory has no
// entry to evict.
//
// Without a warehouses table (Implicit), every warehouse is active and its
// code is its id.
type Directory struct {
	order    domain.Order
	implicit bool
	mu       sync.Mutex // serialises writers
	current  atomic.Pointer[directoryState]
	loaded   atomic.Bool
	// reload: an event could not be placed against a read; read again.
	reload atomic.Bool
}

type directoryState struct {
	byID map[int64]dirEntry
	// joins is what the read path needs of each live warehouse, apart from
	// byID so a join copies two words, not an entry with its positions.
	joins map[int64]joinable
}

type joinable struct {
	code   string
	active bool
}

func newDirectoryState(byID map[int64]dirEntry) *directoryState {
	joins := make(map[int64]joinable, len(byID))
	for id, e := range byID {
		if !e.deleted {
			joins[id] = joinable{code: e.w.Code, active: e.w.Active}
		}
	}
	return &directoryState{byID: byID, joins: joins}
}

type dirEntry struct {
	w domain.Warehouse
	// stamp is where the entry stands (version order: {Seq: w.Version});
	// read entries (binlog order) stand at span instead.
	stamp   domain.Stamp
	read    bool
	span    domain.Span
	deleted bool // tombstone, so an older event cannot resurrect it
	// unknown: deleted by a null value when no event of the warehouse had
	// been seen, so at an unknown place. Only a later event lifts it; a
	// database read cannot, as it may come from a lagging replica.
	unknown bool
	// hasLast: an event of the warehouse was applied; last is its feed
	// position (0: unknown) and lastStamp where it stands.
	hasLast   bool
	last      int64
	lastStamp domain.Stamp
}

// placeEvent says where an event at stamp stands against the entry.
func (d *Directory) placeEvent(e dirEntry, stamp domain.Stamp) domain.Verdict {
	if e.read {
		return e.span.Place(stamp)
	}
	return d.order.Compare(e.stamp, stamp)
}

// refusesRead reports whether the entry keeps out warehouse data read from
// the database (w at its version, read at span sp): a deleted warehouse's
// tombstone at v outranks the row read at v (from a lagging replica, or a
// read that started before the delete), an unknown-place delete is lifted
// by events only, and in binlog order an event the read may not have seen
// stays.
func (d *Directory) refusesRead(e dirEntry, w domain.Warehouse, sp domain.Span) bool {
	if e.unknown {
		return true
	}
	if !d.order.Binlog {
		return !domain.Supersedes(d.order.Compare(e.stamp, domain.Stamp{Seq: w.Version}), e.deleted, false)
	}
	if e.read {
		return !covers(sp.Lo, e.span.Hi) // an older read, or one that overlaps
	}
	return sp.Place(e.stamp) != domain.Older
}

// NewDirectory returns an empty directory ordered by o; implicit: there is
// no warehouses table (every warehouse active, its code its id).
func NewDirectory(o domain.Order, implicit bool) *Directory {
	d := &Directory{order: o, implicit: implicit}
	d.current.Store(newDirectoryState(map[int64]dirEntry{}))
	if implicit {
		d.loaded.Store(true) // nothing to load
	}
	return d
}

// Lookup returns the warehouse with id if it is known and not deleted.
func (d *Directory) Lookup(id int64) (domain.Warehouse, bool) {
	return d.lookup(d.current.Load(), id)
}

// snapshot returns the current state; joins use one snapshot throughout.
func (d *Directory) snapshot() *directoryState { return d.current.Load() }

func (d *Directory) lookup(st *directoryState, id int64) (domain.Warehouse, bool) {
	e, ok := st.byID[id]
	switch {
	case ok:
		return e.w, !e.deleted
	case d.implicit:
		return implicitWarehouse(id), true
	}
	return domain.Warehouse{}, false
}

// join returns the code of warehouse id for a read's answer, and whether
// the read shows it (known, not deleted, active).
func (d *Directory) join(st *directoryState, id int64) (string, bool) {
	j, ok := st.joins[id]
	switch {
	case ok:
		return j.code, j.active
	case d.implicit:
		return implicitWarehouse(id).Code, true
	}
	return "", false
}

func implicitWarehouse(id int64) domain.Warehouse {
	return domain.Warehouse{ID: id, Code: strconv.FormatInt(id, 10), Active: true}
}

// Know makes sure an implicit directory holds warehouse id, so that joins
// on the read path find it without building its code each time.
func (d *Directory) Know(id int64) {
	if !d.implicit {
		return
	}
	if _, ok := d.current.Load().byID[id]; ok {
		return
	}
	d.update(func(m map[int64]dirEntry) bool {
		if _, ok := m[id]; ok {
			return false
		}
		m[id] = dirEntry{w: implicitWarehouse(id)}
		return true
	})
}

// Loaded reports whether a full load from the database has succeeded (or
// none is needed: Implicit).
func (d *Directory) Loaded() bool { return d.loaded.Load() }

// Implicit reports whether there is no warehouses table.
func (d *Directory) Implicit() bool { return d.implicit }

// Load merges a full read of the warehouses table taken at span sp. The
// ordering rule decides, so a load that raced with newer events keeps the
// newer rows.
func (d *Directory) Load(ws []domain.Warehouse, sp domain.Span) {
	d.update(func(m map[int64]dirEntry) bool {
		changed := false
		for _, w := range ws {
			changed = d.observe(m, w, sp) || changed
		}
		return changed
	})
	d.loaded.Store(true)
}

// Replace makes the directory exactly ws, a full read of the warehouses
// table at span sp, forgetting tombstones and places held (a fleet flush,
// after the database's versions went back).
func (d *Directory) Replace(ws []domain.Warehouse, sp domain.Span) {
	d.update(func(m map[int64]dirEntry) bool {
		clear(m)
		for _, w := range ws {
			m[w.ID] = d.readEntry(w, sp)
		}
		return true
	})
	d.loaded.Store(true)
}

// ObserveRows merges the warehouses joined in a database read of stock
// rows at span sp, in one copy of the directory at most.
func (d *Directory) ObserveRows(rows []domain.StockWithWarehouse, sp domain.Span) {
	st := d.current.Load()
	news := false
	for _, r := range rows {
		if r.HasWarehouse && d.takesRead(st, r.Warehouse, sp) {
			news = true
			break
		}
	}
	if !news {
		return // the common case: nothing new, no copy
	}
	d.update(func(m map[int64]dirEntry) bool {
		changed := false
		for _, r := range rows {
			if r.HasWarehouse {
				changed = d.observe(m, r.Warehouse, sp) || changed
			}
		}
		return changed
	})
}

// takesRead reports whether a read of w at span sp would change the entry:
// it is not refused, and it brings another warehouse or (binlog order) a
// later place. A read that shows what the entry holds still moves it on:
// events committed before that read are then placed before it, not taken
// over what the read proved newer.
func (d *Directory) takesRead(st *directoryState, w domain.Warehouse, sp domain.Span) bool {
	e, ok := st.byID[w.ID]
	switch {
	case !ok:
		return true
	case d.refusesRead(e, w, sp):
		return false
	case e.w != w || e.deleted:
		return true
	}
	return d.order.Binlog && !(e.read && samePos(e.span.Lo, sp.Lo) && samePos(e.span.Hi, sp.Hi))
}

func samePos(a, b domain.SourcePos) bool { return covers(a, b) && covers(b, a) }

// Apply merges a warehouse from a change event (insert, update, snapshot
// read) at stamp, feed position pos, and reports whether it changed what
// readers see.
func (d *Directory) Apply(w domain.Warehouse, stamp domain.Stamp, pos int64) bool {
	return d.event(w.ID, pos, stamp, func(e *dirEntry) bool {
		v := d.placeEvent(*e, stamp)
		if d.inReadSpan(*e, v) {
			return false
		}
		if e.unknown || v == domain.Unknown || domain.Supersedes(v, e.deleted, false) {
			e.w, e.stamp, e.read, e.deleted, e.unknown = w, stamp, false, false, false
			return true
		}
		return false
	})
}

// inReadSpan handles an event that committed while the read an entry stands
// at ran (binlog order): the read may have seen it and later changes too,
// so taking it could show readers an older warehouse than they saw, and
// ignoring it could leave a newer one out. The entry keeps what the read
// had (never older than what was shown), and the directory is marked to be
// read again (TakeReload), which settles it.
func (d *Directory) inReadSpan(e dirEntry, v domain.Verdict) bool {
	if !e.read || v != domain.Unknown {
		return false
	}
	d.reload.Store(true)
	return true
}

// TakeReload reports whether an event could not be placed against what the
// directory read (see inReadSpan) since the last call: the caller should
// read the warehouse table again.
func (d *Directory) TakeReload() bool { return d.reload.Swap(false) }

// Delete records a delete event of warehouse id at stamp (in version order
// the version it had: a DELETE changes no column), feed position pos.
func (d *Directory) Delete(id int64, stamp domain.Stamp, pos int64) bool {
	return d.event(id, pos, stamp, func(e *dirEntry) bool { return d.tombstone(e, stamp) })
}

// DeleteByKey records a null-value delete of warehouse id at feed position
// pos: it deletes what the warehouse's event just before it wrote, or, when
// no event of it was seen, at an unknown place. In binlog order it is always
// at an unknown place: it may be in the transaction of the event before it
// or in any later one, so a read that reflected that event may or may not
// reflect the delete.
func (d *Directory) DeleteByKey(id int64, pos int64) bool {
	changed := false
	d.update(func(m map[int64]dirEntry) bool {
		e, ok := m[id]
		if ok && (replayed(e.last, pos) || e.unknown) {
			return false
		}
		if ok && e.hasLast && !d.order.Binlog {
			changed = d.tombstone(&e, e.lastStamp)
		} else {
			e.w.ID, e.deleted, e.unknown, changed = id, true, true, true
		}
		e.hasLast, e.last = true, pos
		m[id] = e
		return true
	})
	return changed
}

// event applies one event of warehouse id: nothing if it comes from before
// the warehouse's last event (a replay), else change, and the event becomes
// the last. It reports whether what readers see changed.
func (d *Directory) event(id, pos int64, stamp domain.Stamp, change func(*dirEntry) bool) bool {
	changed := false
	d.update(func(m map[int64]dirEntry) bool {
		e, ok := m[id]
		if ok && replayed(e.last, pos) {
			return false
		}
		if !ok && d.implicit {
			e.w = implicitWarehouse(id)
		}
		e.w.ID = id
		changed = change(&e)
		e.hasLast, e.last, e.lastStamp = true, pos, stamp
		m[id] = e
		return true
	})
	return changed
}

func (d *Directory) tombstone(e *dirEntry, stamp domain.Stamp) bool {
	v := d.placeEvent(*e, stamp)
	if d.inReadSpan(*e, v) || e.unknown || v != domain.Unknown && !domain.Supersedes(v, e.deleted, true) {
		return false
	}
	e.stamp, e.read, e.deleted = stamp, false, true
	if !d.order.Binlog {
		e.w.Version = stamp.Seq
	}
	return true
}

// readEntry is what a database read of w at span sp knows.
func (d *Directory) readEntry(w domain.Warehouse, sp domain.Span) dirEntry {
	if d.order.Binlog {
		return dirEntry{w: w, read: true, span: sp}
	}
	return dirEntry{w: w, stamp: domain.Stamp{Seq: w.Version}}
}

// observe merges a warehouse read from the database (see refusesRead).
func (d *Directory) observe(m map[int64]dirEntry, w domain.Warehouse, sp domain.Span) bool {
	e, ok := m[w.ID]
	if ok && d.refusesRead(e, w, sp) {
		return false
	}
	next := d.readEntry(w, sp)
	next.hasLast, next.last, next.lastStamp = e.hasLast, e.last, e.lastStamp
	m[w.ID] = next
	return true
}

// Len is the number of live warehouses known.
func (d *Directory) Len() int {
	n := 0
	for _, e := range d.current.Load().byID {
		if !e.deleted {
			n++
		}
	}
	return n
}

func (d *Directory) update(change func(map[int64]dirEntry) bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := maps.Clone(d.current.Load().byID)
	if !change(next) {
		return false
	}
	d.current.Store(newDirectoryState(next))
	return true
}

// Truncate marks every known warehouse deleted where it stands: a later
// insert is newer and wins; an older re-delivery loses.
func (d *Directory) Truncate() {
	d.update(func(m map[int64]dirEntry) bool {
		for id, e := range m {
			e.deleted = true
			m[id] = e
		}
		return len(m) > 0
	})
}
