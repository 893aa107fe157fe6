package inventory

import (
	"sync"
	"time"
)

// markers remember, for a short while, the newest change the feed delivered
// for each stock row. A fill reads the database under the product's lock,
// but what it reads can still be older than an event already handled: a
// replica that lags, or an entry that was patched and then expired or was
// evicted. The fill merges the markers into what it read, newer version
// wins, so it neither caches nor answers a value the feed has moved past.
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
	qty         int32
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
func (m *markers) record(now time.Time, productID, warehouseID int64, qty int32, version uint64, deleted bool) {
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
				list[i] = marker{warehouseID: warehouseID, qty: qty, version: version, deleted: deleted, expires: exp}
			}
			s.byPK[productID] = list
			return
		}
	}
	s.byPK[productID] = append(list, marker{warehouseID: warehouseID, qty: qty, version: version, deleted: deleted, expires: exp})
}

// merge applies the live markers of productID to e, freshly read from the
// database: a row the feed knows a newer version of takes that version
// (deletes become tombstones). It returns how many rows it corrected.
func (m *markers) merge(now time.Time, productID int64, e *Entry) int {
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := pruneExpired(s.byPK[productID], now.UnixNano())
	if len(list) == 0 {
		delete(s.byPK, productID)
		return 0
	}
	s.byPK[productID] = list
	corrected := 0
	for _, mk := range list {
		if e.apply(mk.warehouseID, mk.qty, mk.version, mk.deleted) {
			corrected++
		}
	}
	return corrected
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
