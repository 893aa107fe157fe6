package inventory

import (
	"sync"
	"sync/atomic"

	"github.com/gintoki/gintoki/domain"
)

// Directory is the in-memory warehouse table, joined with cached stock rows
// at read time. It is small (warehouses number in the hundreds), so writers
// copy it and readers load it with one atomic read and no lock.
type Directory struct {
	mu      sync.Mutex // serialises writers
	current atomic.Pointer[directoryState]
	loaded  atomic.Bool
}

type directoryState struct {
	byID map[int64]dirEntry
	gen  uint64 // grows with every change; answers built on an older one are stale
}

type dirEntry struct {
	w       domain.Warehouse
	deleted bool // tombstone, so an older event cannot resurrect it
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
			changed = mergeWarehouse(m, w, false) || changed
		}
		return changed
	})
	d.loaded.Store(true)
}

// Observe merges one warehouse seen in a joined database read and reports
// whether it changed the directory.
func (d *Directory) Observe(w domain.Warehouse) bool {
	if e, ok := d.current.Load().byID[w.ID]; ok && e.w.Version >= w.Version {
		return false // the common case: nothing new, no copy
	}
	return d.update(func(m map[int64]dirEntry) bool { return mergeWarehouse(m, w, false) })
}

// Delete records that warehouse id was deleted at version.
func (d *Directory) Delete(id int64, version uint64) bool {
	return d.update(func(m map[int64]dirEntry) bool {
		return mergeWarehouse(m, domain.Warehouse{ID: id, Version: version}, true)
	})
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
	old := d.current.Load().byID
	next := make(map[int64]dirEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if !change(next) {
		return false
	}
	d.current.Store(&directoryState{byID: next, gen: d.current.Load().gen + 1})
	return true
}

func mergeWarehouse(m map[int64]dirEntry, w domain.Warehouse, deleted bool) bool {
	if e, ok := m[w.ID]; ok && e.w.Version >= w.Version {
		return false
	}
	m[w.ID] = dirEntry{w: w, deleted: deleted}
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
