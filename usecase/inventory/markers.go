package inventory

import (
	"slices"
	"sync"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/keylock"
)

// markers remember, for a short while, the newest change the feed delivered
// for each stock row. A fill reads the database under the product's lock,
// but what it reads can still be older than an event already handled: a
// replica that lags, or an entry that was patched and then expired or was
// evicted. The fill merges the markers into what it read, newer version
// wins, so it neither caches nor answers a value the feed has moved past.
type markers struct {
	ttl    time.Duration
	order  domain.Order
	shards [64]markerShard
}

type markerShard struct {
	mu   sync.Mutex
	byPK map[int64][]marker // product id -> rows seen
}

type marker struct {
	warehouseID int64
	// The newest state of the row the feed delivered: its image, where it
	// stands, and the transaction that wrote it (unknown when the event
	// named none).
	qty     int32
	stamp   domain.Stamp
	deleted bool
	gtid    domain.GTID
	// unknown: deleted by a null value when nothing was known of the row,
	// so at an unknown place (see merge).
	unknown bool
	// hasLast: a change of the row was recorded; last is its feed position
	// (0: unknown) and lastStamp where it stands, what a null value coming
	// right after it deletes.
	hasLast   bool
	last      int64
	lastStamp domain.Stamp
	expires   int64 // unix nanoseconds
}

// image is the marker's newest state as a change to merge.
func (mk *marker) image() change {
	return change{warehouseID: mk.warehouseID, qty: mk.qty, stamp: mk.stamp, deleted: mk.deleted, gtid: mk.gtid}
}

func newMarkers(ttl time.Duration, o domain.Order) *markers { return &markers{ttl: ttl, order: o} }

func (m *markers) shard(productID int64) *markerShard {
	return &m.shards[keylock.ShardOf(productID, len(m.shards))]
}

// record notes change c of (productID, c.warehouseID), from feed position
// pos: the row's newest state keeps the one that supersedes, and the change
// becomes the row's last. A change from before the row's last (a replay)
// changes nothing; any later change lifts a delete of unknown place. Two
// changes that cannot be placed against each other (binlog order: one
// names no transaction, or they come from two GTID sources) are taken in
// feed order, the later one kept.
func (m *markers) record(now time.Time, productID int64, c change, pos int64) {
	m.update(now, productID, c.warehouseID, func(mk *marker, found bool) {
		if found && replayed(mk.last, pos) {
			return // ApplyStock skips these; kept so the rule holds here too
		}
		v := domain.Newer
		if found && !mk.unknown {
			v = m.order.Compare(mk.stamp, c.stamp)
		}
		// A change naming no transaction says nothing a fill can use
		// (see merge): a placed state is worth more.
		keep := v == domain.Unknown && mk.stamp.Placed() && !c.stamp.Placed()
		if !keep && (v == domain.Unknown || domain.Supersedes(v, mk.deleted, c.deleted)) {
			mk.qty, mk.stamp, mk.deleted, mk.unknown, mk.gtid = c.qty, c.stamp, c.deleted, false, c.gtid
		}
		mk.hasLast, mk.last, mk.lastStamp = true, pos, c.stamp
	})
}

// remember merges a state of the row known from elsewhere (an entry about to
// be evicted) into its newest state, without making it the row's last change.
func (m *markers) remember(now time.Time, productID int64, c change) {
	m.update(now, productID, c.warehouseID, func(mk *marker, found bool) {
		if !found || !mk.unknown && domain.Supersedes(m.order.Compare(mk.stamp, c.stamp), mk.deleted, c.deleted) {
			mk.qty, mk.stamp, mk.deleted, mk.gtid = c.qty, c.stamp, c.deleted, domain.GTID{}
		}
	})
}

// recordUnknownDelete notes a delete, at feed position pos, of a row known
// only by its key and of which nothing was known.
func (m *markers) recordUnknownDelete(now time.Time, productID, warehouseID int64, pos int64) {
	m.update(now, productID, warehouseID, func(mk *marker, _ bool) {
		*mk = marker{warehouseID: warehouseID, deleted: true, unknown: true, last: pos}
	})
}

// replayed reports whether a change at pos comes from before the row's last
// recorded change at last: the feed is replaying (after a broken session),
// and what the change says has been superseded already.
func replayed(last, pos int64) bool { return last > 0 && pos > 0 && pos <= last }

// get returns the live marker of a row.
func (m *markers) get(now time.Time, productID, warehouseID int64) (marker, bool) {
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mk := range s.byPK[productID] {
		if mk.warehouseID == warehouseID && mk.expires > now.UnixNano() {
			return mk, true
		}
	}
	return marker{}, false
}

// update changes the live marker of a row in place (found false: a new one,
// zero but for its warehouse) and renews its lifetime.
func (m *markers) update(now time.Time, productID, warehouseID int64, change func(mk *marker, found bool)) {
	if m.ttl <= 0 {
		return
	}
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPK == nil {
		s.byPK = make(map[int64][]marker)
	}
	list := pruneExpired(s.byPK[productID], now.UnixNano())
	i := slices.IndexFunc(list, func(mk marker) bool { return mk.warehouseID == warehouseID })
	if i < 0 {
		list = append(list, marker{warehouseID: warehouseID})
		i = len(list) - 1
		change(&list[i], false)
	} else {
		change(&list[i], true)
	}
	list[i].expires = now.Add(m.ttl).UnixNano()
	s.byPK[productID] = list
}

// merge applies the live markers of productID to e, freshly read from the
// database: a row the feed knows a newer state of takes it (deletes become
// tombstones, and a delete at the version read removes the row read). A
// row read that the feed deleted at an unknown place is hidden, as the feed
// has it, and the fill is uncertain: the row may be a lagging replica's copy
// from before the delete or a re-insert whose event is still to come, so e
// may be answered but must not be cached. A marker that cannot be placed
// against the read (binlog order: its transaction committed while the read
// ran) is taken too, the feed's word against the read's, and the fill is
// uncertain. It returns how many rows it corrected.
//
// A marker of a row the read did not return, which the read reflected (its
// transaction is covered by the read's position), is older than the row's
// disappearance (the read saw the row deleted after it): it is left out.
// Without that position, a row the read lacks is taken from the marker: the
// read may come from a replica that has not seen the row yet.
func (m *markers) merge(now time.Time, productID int64, e *Entry) (corrected int, uncertain bool) {
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := pruneExpired(s.byPK[productID], now.UnixNano())
	if len(list) == 0 {
		delete(s.byPK, productID)
		return 0, false
	}
	s.byPK[productID] = list
	for _, mk := range list {
		if mk.unknown {
			if i, ok := e.find(mk.warehouseID); ok && !e.Rows[i].Deleted {
				e.Rows[i].Deleted = true
				corrected++
				uncertain = true
			}
			continue
		}
		if m.order.Binlog && !mk.stamp.Placed() {
			// A change naming no transaction (a snapshot row of a source
			// that does not say its position) cannot be placed against the
			// read. It never patched a cached entry either (it evicts), so
			// this node never answered it: the read stands.
			continue
		}
		changed, unknown := e.apply(m.order, mk.image())
		if unknown {
			e.set(mk.image())
			changed, uncertain = true, true
		}
		if changed {
			corrected++
		}
	}
	return corrected, uncertain
}

// forgetProduct drops the markers of one product (the inspector found its
// cache ahead of the database: the markers may hold the same wrong versions).
func (m *markers) forgetProduct(productID int64) {
	s := m.shard(productID)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byPK, productID)
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
