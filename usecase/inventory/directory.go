package inventory

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/gintoki/gintoki/domain"
)

// Directory is the in-memory warehouse table, joined with cached stock rows
// at read time. It is small (warehouses number in the hundreds), so writers
// copy it and readers load it with one atomic read and no lock.
//
// It takes changes from two sides: change events (Apply, Delete,
// DeleteByKey, Truncate) and database reads (Load, Observe). Versions decide
// between them (domain.Supersedes), with two differences: only an event can
// lift a delete of unknown version, and only events are ordered by feed
// position, which is how a null-value delete finds the version it deletes.
type Directory struct {
	mu      sync.Mutex // serialises writers
	current atomic.Pointer[directoryState]
	loaded  atomic.Bool
}

type directoryState struct {
	byID map[int64]dirEntry
}

type dirEntry struct {
	w       domain.Warehouse
	deleted bool // tombstone, so an older event cannot resurrect it
	// unknown: deleted by a null value when no event of the warehouse had
	// been seen, so at an unknown version. Only a later event lifts it; a
	// database read cannot, as it may come from a lagging replica.
	unknown bool
	// hasLast: an event of the warehouse was applied; last is its feed
	// position (0: unknown) and lastVersion its version.
	hasLast     bool
	last        int64
	lastVersion uint64
}

// refusesRead reports whether the entry keeps out warehouse data read from
// the database at version v: a deleted warehouse's tombstone at v outranks
// the row read at v (from a lagging replica, or a read that started before
// the delete), and an unknown-version delete is lifted by events only.
func (e dirEntry) refusesRead(v uint64) bool {
	return e.unknown || !domain.Supersedes(e.w.Version, e.deleted, v, false)
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	d := &Directory{}
	d.current.Store(&directoryState{byID: map[int64]dirEntry{}})
	return d
}

// Lookup returns the warehouse with id if it is known and not deleted.
func (d *Directory) Lookup(id int64) (domain.Warehouse, bool) {
	return d.current.Load().lookup(id)
}

// snapshot returns the current state; joins use one snapshot throughout.
func (d *Directory) snapshot() *directoryState { return d.current.Load() }

func (st *directoryState) lookup(id int64) (domain.Warehouse, bool) {
	e, ok := st.byID[id]
	if !ok || e.deleted {
		return domain.Warehouse{}, false
	}
	return e.w, true
}

// Loaded reports whether a full load from the database has succeeded.
func (d *Directory) Loaded() bool { return d.loaded.Load() }

// Load merges a full read of the warehouses table. Versions decide, so a
// load that raced with newer events keeps the newer rows.
func (d *Directory) Load(ws []domain.Warehouse) {
	d.update(func(m map[int64]dirEntry) bool {
		changed := false
		for _, w := range ws {
			changed = observe(m, w) || changed
		}
		return changed
	})
	d.loaded.Store(true)
}

// Replace makes the directory exactly ws, a full read of the warehouses
// table, forgetting tombstones and versions held (a fleet flush, after the
// database's versions went back).
func (d *Directory) Replace(ws []domain.Warehouse) {
	d.update(func(m map[int64]dirEntry) bool {
		clear(m)
		for _, w := range ws {
			m[w.ID] = dirEntry{w: w}
		}
		return true
	})
	d.loaded.Store(true)
}

// Observe merges one warehouse seen in a joined database read and reports
// whether it changed the directory.
func (d *Directory) Observe(w domain.Warehouse) bool {
	if e, ok := d.current.Load().byID[w.ID]; ok && e.refusesRead(w.Version) {
		return false // the common case: nothing new, no copy
	}
	return d.update(func(m map[int64]dirEntry) bool { return observe(m, w) })
}

// Apply merges a warehouse from a change event (insert, update, snapshot
// read) at feed position pos and reports whether it changed what readers see.
func (d *Directory) Apply(w domain.Warehouse, pos int64) bool {
	return d.event(w.ID, pos, w.Version, func(e *dirEntry) bool {
		if e.unknown || domain.Supersedes(e.w.Version, e.deleted, w.Version, false) {
			e.w, e.deleted, e.unknown = w, false, false
			return true
		}
		return false
	})
}

// Delete records a delete event of warehouse id at version (the version it
// had: a DELETE changes no column), at feed position pos.
func (d *Directory) Delete(id int64, version uint64, pos int64) bool {
	return d.event(id, pos, version, func(e *dirEntry) bool { return tombstone(e, version) })
}

// DeleteByKey records a null-value delete of warehouse id at feed position
// pos: it deletes the version of the warehouse's event just before it, or,
// when no event of it was seen, an unknown version.
func (d *Directory) DeleteByKey(id int64, pos int64) bool {
	changed := false
	d.update(func(m map[int64]dirEntry) bool {
		e, ok := m[id]
		if ok && (replayed(e.last, pos) || e.unknown) {
			return false
		}
		if ok && e.hasLast {
			changed = tombstone(&e, e.lastVersion)
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
func (d *Directory) event(id, pos int64, version uint64, change func(*dirEntry) bool) bool {
	changed := false
	d.update(func(m map[int64]dirEntry) bool {
		e, ok := m[id]
		if ok && replayed(e.last, pos) {
			return false
		}
		e.w.ID = id
		changed = change(&e)
		e.hasLast, e.last, e.lastVersion = true, pos, version
		m[id] = e
		return true
	})
	return changed
}

func tombstone(e *dirEntry, version uint64) bool {
	if e.unknown || !domain.Supersedes(e.w.Version, e.deleted, version, true) {
		return false
	}
	e.w.Version, e.deleted = version, true
	return true
}

// observe merges a warehouse read from the database (see refusesRead).
func observe(m map[int64]dirEntry, w domain.Warehouse) bool {
	e, ok := m[w.ID]
	if ok && e.refusesRead(w.Version) {
		return false
	}
	e.w, e.deleted = w, false
	m[w.ID] = e
	return true
}

// Len is the number of live warehouses.
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
	d.current.Store(&directoryState{byID: next})
	return true
}

// Truncate marks every known warehouse deleted at its current version: a
// later insert carries a newer version and wins; an older re-delivery loses.
func (d *Directory) Truncate() {
	d.update(func(m map[int64]dirEntry) bool {
		for id, e := range m {
			e.deleted = true
			m[id] = e
		}
		return len(m) > 0
	})
}
