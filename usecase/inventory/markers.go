package inventory

import (
	"sync"
	"time"
)

// markers remember, for a short while, the newest version of each stock row
// whose change event arrived while its product was not cached. A fill that
// read the database before that change (a slow query, a lagging replica)
// compares its rows against them and then answers without caching, instead
// of caching a value the feed has already moved past.
type markers struct {
	ttl    time.Duration
	shards [64]markerShard
}

type markerShard struct {
	mu   sync.Mutex
	byPK map[int64][]marker // product id -> rows seen
}

type marker struct {
	warehouseID int64
	version     uint64
	deleted     bool
	expires     int64 // unix nanoseconds
}

func newMarkers(ttl time.Duration) *markers { return &markers{ttl: ttl} }

func (m *markers) shard(productID int64) *markerShard {
	return &m.shards[uint64(productID)*0x9E3779B97F4A7C15>>(64-6)]
}

// record notes a change of (productID, warehouseID) at version, keeping the
// newest one per row.
func (m *markers) record(now time.Time, productID, warehouseID int64, version uint64, deleted bool) {
	if m.ttl <= 0 {
		return
	}
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPK == nil {
		s.byPK = make(map[int64][]marker)
	}
	exp := now.Add(m.ttl).UnixNano()
	list := pruneExpired(s.byPK[productID], now.UnixNano())
	for i := range list {
		if list[i].warehouseID == warehouseID {
			if version > list[i].version {
				list[i] = marker{warehouseID: warehouseID, version: version, deleted: deleted, expires: exp}
			}
			s.byPK[productID] = list
			return
		}
	}
	s.byPK[productID] = append(list, marker{warehouseID: warehouseID, version: version, deleted: deleted, expires: exp})
}

// check reports whether e, freshly read from the database, is at least as
// new as every live marker of productID. It also folds delete markers into e
// as tombstones, so the cached entry keeps refusing the older update that
// may still be in flight.
func (m *markers) check(now time.Time, productID int64, e *Entry) bool {
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := pruneExpired(s.byPK[productID], now.UnixNano())
	if len(list) == 0 {
		delete(s.byPK, productID)
		return true
	}
	s.byPK[productID] = list
	for _, mk := range list {
		i, ok := e.find(mk.warehouseID)
		if !ok {
			if !mk.deleted {
				return false // the feed saw this row exist; the read did not
			}
			continue
		}
		if e.Rows[i].Version < mk.version {
			return false // the read is older than a change already handled
		}
		if e.Rows[i].Version == mk.version && mk.deleted && !e.Rows[i].Deleted {
			return false
		}
	}
	for _, mk := range list {
		if mk.deleted {
			e.apply(mk.warehouseID, 0, mk.version, true)
		}
	}
	return true
}

// forget drops every marker (after a flush they describe a past the cache no
// longer holds).
func (m *markers) forget() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.byPK = nil
		s.mu.Unlock()
	}
}

// sweep drops expired markers so products never read again do not pin memory.
func (m *markers) sweep(now time.Time) (left int) {
	n := now.UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for pid, list := range s.byPK {
			list = pruneExpired(list, n)
			if len(list) == 0 {
				delete(s.byPK, pid)
				continue
			}
			s.byPK[pid] = list
			left += len(list)
		}
		s.mu.Unlock()
	}
	return left
}

func pruneExpired(list []marker, now int64) []marker {
	out := list[:0]
	for _, mk := range list {
		if mk.expires > now {
			out = append(out, mk)
		}
	}
	return out
}
