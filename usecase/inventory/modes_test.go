package inventory

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The rules of the change path, each run in both orders: by a version
// column and by the binlog (docs/DESIGN.md §5). A test
// writes through binlogDB, a fake database with a binlog, and applies the
// events it hands back, which carry what a real source's carry: the version
// column only when the table has one, the transaction's GTID and the
// change's place in it always.

// binlogDB is the primary: every write is a transaction of its own, or part
// of one opened with begin, with the next GTID of domain 0. Rows keep a
// version column bumped by every write.
type binlogDB struct {
	order    domain.Order
	repo     *fakeRepo // what reads see: the primary, or a replica frozen by lag
	primary  *fakeRepo
	seq      uint64
	versions map[[2]int64]uint64
	inTx     bool
	sub      uint64
}

func newBinlogDB(o domain.Order) *binlogDB {
	db := &binlogDB{order: o, primary: seeded(0), versions: map[[2]int64]uint64{}}
	for _, w := range db.primary.warehouses {
		w.Version = db.readVersion(w.Version) // a table without the column
		db.primary.warehouses[w.ID] = w
	}
	db.repo = db.primary
	db.primary.setPosition(position("0-1-0"))
	return db
}

func (db *binlogDB) next() domain.GTID {
	if !db.inTx {
		db.seq++
		db.sub = 0
		db.primary.setPosition(position(fmt.Sprintf("0-1-%d", db.seq)))
	}
	db.sub += 10
	return domain.GTID{Source: gtid("0-1-1").Source, Seq: db.seq}
}

// begin opens a transaction: the writes up to commit share one GTID.
func (db *binlogDB) begin() {
	db.seq++
	db.sub = 0
	db.inTx = true
}

func (db *binlogDB) commit() {
	db.inTx = false
	db.primary.setPosition(position(fmt.Sprintf("0-1-%d", db.seq)))
}

// event is the change event a source sends for a row image.
func (db *binlogDB) event(op domain.Op, p, w int64, qty int32, version uint64) domain.StockChange {
	g := db.next()
	c := domain.StockChange{Op: op, Row: domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: qty}, GTID: g, Sub: db.sub}
	if !db.order.Binlog {
		c.Row.Version = version
	}
	return c
}

// write inserts or updates a row and returns its event.
func (db *binlogDB) write(p, w int64, qty int32) domain.StockChange {
	key := [2]int64{p, w}
	op := domain.OpUpdate
	if _, ok := db.primary.stock[key]; !ok {
		op = domain.OpCreate
	}
	db.versions[key]++
	v := db.versions[key]
	db.primary.putStock(domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: qty, Version: db.readVersion(v)})
	return db.event(op, p, w, qty, v)
}

// del deletes a row and returns its event: the before image, at the
// version the row already had (a DELETE changes no column).
func (db *binlogDB) del(p, w int64) domain.StockChange {
	key := [2]int64{p, w}
	row := db.primary.stock[key]
	db.primary.deleteStock(p, w)
	// The version column keeps growing across a delete, so a re-insert
	// gets a newer one.
	db.versions[key]++
	return db.event(domain.OpDelete, p, w, row.QtySalable, db.versions[key]-1)
}

// readVersion is what a database read returns of a row's version: the
// column, or nothing when the table has none.
func (db *binlogDB) readVersion(v uint64) uint64 {
	if db.order.Binlog {
		return 0
	}
	return v
}

// lag freezes what reads see: a replica that stops applying here.
func (db *binlogDB) lag() {
	r := newFakeRepo()
	db.primary.mu.Lock()
	r.stock = maps.Clone(db.primary.stock)
	r.warehouses = maps.Clone(db.primary.warehouses)
	r.pos = db.primary.pos
	db.primary.mu.Unlock()
	db.repo = r
}

// catchUp lets reads see the primary again.
func (db *binlogDB) catchUp() { db.repo = db.primary }

// readsFrom is the repository the service reads, following lag and catchUp.
type readsFrom struct{ db *binlogDB }

func (r readsFrom) StockByProducts(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	return r.db.repo.StockByProducts(ctx, ids)
}
func (r readsFrom) Warehouses(ctx context.Context) ([]domain.Warehouse, error) {
	return r.db.repo.Warehouses(ctx)
}
func (r readsFrom) Position(ctx context.Context) (domain.SourcePos, error) {
	return r.db.repo.Position(ctx)
}
func (r readsFrom) Ping(ctx context.Context) error { return r.db.repo.Ping(ctx) }

var orders = []struct {
	name  string
	order domain.Order
}{{"by-version", domain.ByVersion}, {"by-binlog", domain.ByBinlog}}

// modal runs f once per order, with a database holding product 1 in
// warehouses 1 (WH-B, 11) and 2 (WH-A, 12), and a service reading it.
func modal(t *testing.T, f func(t *testing.T, db *binlogDB, s *testService, store *fakeStore)) {
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			db := newBinlogDB(o.order)
			db.write(1, 1, 11)
			db.write(1, 2, 12)
			cfg := testConfig()
			cfg.StockOrder, cfg.WarehouseOrder = o.order, o.order
			store := newFakeStore()
			s := newService(cfg, readsFrom{db}, store, nil, nil)
			if err := s.LoadDirectory(context.Background()); err != nil {
				t.Fatal(err)
			}
			f(t, db, s, store)
		})
	}
}

// expiring gives s a clock of its own and entries that live ten seconds,
// so a test can let them expire.
func expiring(s *testService) *manualClock {
	clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clock.Now
	s.cfg.TTL, s.cfg.TTLJitter = 10*time.Second, 0
	return clock
}

func expect(t *testing.T, s *testService, p int64, want string) {
	t.Helper()
	if got := answerOf(t, s, p); got != want {
		t.Fatalf("product %d answers %s, want %s", p, got, want)
	}
}

func TestModesInPlaceUpdateDuplicatesAndReplays(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		u1 := db.write(1, 2, 20)
		u2 := db.write(1, 2, 30)
		for _, c := range []struct {
			ev   domain.StockChange
			want Outcome
		}{{u1, Applied}, {u2, Applied}, {u2, Older}, {u1, Older}} {
			if out := s.ApplyStock(c.ev); out != c.want {
				t.Fatalf("outcome %v, want %v", out, c.want)
			}
		}
		q := db.primary.queryCount()
		expect(t, s, 1, "[{WH-A 30} {WH-B 11}]")
		if db.primary.queryCount() != q {
			t.Fatal("the patched product was read again")
		}
	})
}

// A real DELETE removes the row, whatever comes again after it; a re-insert
// brings it back.
func TestModesDeleteLeavesATombstoneAndReinsertWins(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		u := db.write(1, 2, 20)
		d := db.del(1, 2)
		for _, ev := range []domain.StockChange{u, d, d, u} {
			s.ApplyStock(ev)
		}
		expect(t, s, 1, "[{WH-B 11}]")
		s.ApplyStock(db.write(1, 2, 5))
		expect(t, s, 1, "[{WH-A 5} {WH-B 11}]")
	})
}

// A transaction that deletes a row and inserts it again: both changes share
// a transaction (binlog order tells them apart by their place in it).
func TestModesDeleteAndReinsertInOneTransaction(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		db.begin()
		d := db.del(1, 2)
		c := db.write(1, 2, 77)
		db.commit()
		for _, ev := range []domain.StockChange{d, c, d} {
			s.ApplyStock(ev)
		}
		expect(t, s, 1, "[{WH-A 77} {WH-B 11}]")
	})
}

// A fill from a lagging replica, after the feed delivered newer changes,
// neither caches nor answers what the feed moved past: the markers correct
// it, for an update, a delete and an insert alike, cached before or not.
func TestModesLaggingFillIsCorrectedByMarkers(t *testing.T) {
	for _, change := range []string{"update", "delete", "insert"} {
		for _, cachedBefore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", change, cachedBefore), func(t *testing.T) {
				modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
					clock := expiring(s)
					db.primary.putWarehouse(domain.Warehouse{ID: 4, Code: "WH-D", Active: true, Version: 1})
					if err := s.LoadDirectory(context.Background()); err != nil {
						t.Fatal(err)
					}
					if cachedBefore {
						expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
					}
					db.lag()
					var ev domain.StockChange
					want := map[string]string{"update": "[{WH-A 99} {WH-B 11}]", "delete": "[{WH-B 11}]", "insert": "[{WH-A 12} {WH-B 11} {WH-D 5}]"}[change]
					switch change {
					case "update":
						ev = db.write(1, 2, 99)
					case "delete":
						ev = db.del(1, 2)
					case "insert":
						ev = db.write(1, 4, 5)
					}
					s.ApplyStock(ev)
					if cachedBefore {
						clock.Advance(20 * time.Second) // the entry expired, the marker did not
					}
					expect(t, s, 1, want)
					if store.Len() != 1 {
						t.Fatal("the corrected fill was not cached")
					}
					db.catchUp()
					expect(t, s, 1, want)
				})
			})
		}
	}
}

// After a delete the entry expires and so does the marker; a refill from a
// lagging replica that still has the row does not bring it back.
func TestModesRefillAfterExpiryKeepsTheTombstone(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		clock := expiring(s)
		s.marks.ttl = time.Second
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		db.lag()
		s.ApplyStock(db.del(1, 2))
		clock.Advance(20 * time.Second)
		expect(t, s, 1, "[{WH-B 11}]")
	})
}

// The database runs ahead of the feed (the source was down): a row was
// updated and deleted, a fill read it gone, and the update's event arrives
// only afterwards. The fill reflected that change: it must not bring the
// row back; a later re-insert still lands.
func TestModesEventsTheFillReflectedDoNotBringADeletedRowBack(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		u := db.write(1, 2, 40)
		d := db.del(1, 2)
		expect(t, s, 1, "[{WH-B 11}]")
		if out := s.ApplyStock(u); out != Older {
			t.Fatalf("outcome %v, want older: the fill read past this change", out)
		}
		s.ApplyStock(d)
		expect(t, s, 1, "[{WH-B 11}]")
		if out := s.ApplyStock(db.write(1, 2, 50)); out != Applied {
			t.Fatalf("re-insert after the fill: outcome %v", out)
		}
		expect(t, s, 1, "[{WH-A 50} {WH-B 11}]")
	})
}

// A null-value delete (a flattened stream's only delete signal) deletes
// what the change just before it in the feed wrote.
func TestModesNullValueDeleteDeletesTheChangeBeforeIt(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		u := db.write(1, 2, 20)
		u.Position = 7
		db.del(1, 2)
		null := deleteByKey(1, 2)
		null.Position = 8
		s.ApplyStock(u)
		s.ApplyStock(null)
		expect(t, s, 1, "[{WH-B 11}]")
		s.ApplyStock(u) // replayed from before: superseded
		expect(t, s, 1, "[{WH-B 11}]")
	})
}

// Warehouse changes from events reach every product; a fill from a
// lagging replica does not undo them.
func TestModesWarehouseEventsAndLaggingFills(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		db.lag()
		rename := domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 1, Code: "WH-Z", Active: true}, GTID: db.next(), Sub: db.sub}
		if !db.order.Binlog {
			rename.Row.Version = 2
		}
		if out := s.ApplyWarehouse(rename); out != Applied {
			t.Fatalf("rename: %v", out)
		}
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		s.Flush() // the next read refills, from the lagging replica
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		del := domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 2, Code: "WH-A", Active: true}, GTID: db.next(), Sub: db.sub}
		if !db.order.Binlog {
			del.Row.Version = 1
		}
		s.ApplyWarehouse(del)
		s.Flush()
		expect(t, s, 1, "[{WH-Z 11}]")
	})
}

// binlogOnly runs f in binlog order alone.
func binlogOnly(t *testing.T, f func(t *testing.T, db *binlogDB, s *testService, store *fakeStore)) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		if db.order.Binlog {
			f(t, db, s, store)
		}
	})
}

// A transaction commits while a fill's read runs: the read may or may not
// include it. The fill is cached as standing between the two positions; the
// event of that transaction cannot be placed against it and evicts the
// product (it is never applied on a guess), and the refill is exact.
func TestBinlogOrderEventInsideTheFillsSpanEvicts(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		var during domain.StockChange
		db.primary.hold = func(context.Context, []int64) error {
			db.primary.hold = nil // the hook runs under the repo's caller, not its lock
			during = db.write(1, 2, 40)
			return nil
		}
		expect(t, s, 1, "[{WH-A 40} {WH-B 11}]")
		if store.Len() != 1 {
			t.Fatal("a fill overlapped by a transaction was not cached at all")
		}
		if out := s.ApplyStock(during); out != Evicted {
			t.Fatalf("the overlapping transaction's event: %v, want evicted", out)
		}
		if store.Len() != 0 {
			t.Fatal("the entry stayed")
		}
		after := db.write(1, 2, 41)
		expect(t, s, 1, "[{WH-A 41} {WH-B 11}]")
		if out := s.ApplyStock(after); out != Older {
			t.Fatalf("an event the exact refill reflected: %v, want older", out)
		}
		if out := s.ApplyStock(db.write(1, 2, 42)); out != Applied {
			t.Fatalf("a later event: %v, want applied", out)
		}
		expect(t, s, 1, "[{WH-A 42} {WH-B 11}]")
	})
}

// A marker whose transaction a lagging replica applied while the fill read
// it: the fill answers as the feed has it and caches nothing.
func TestBinlogOrderMarkerInsideTheFillsSpanIsNotCached(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		db.lag()
		replica := db.repo
		s.ApplyStock(db.write(1, 2, 60)) // product 1 not cached: a marker
		replica.hold = func(context.Context, []int64) error {
			replica.hold = nil
			replica.setPosition(db.primary.pos) // the replica catches up mid-read, its rows not yet
			return nil
		}
		expect(t, s, 1, "[{WH-A 60} {WH-B 11}]")
		if store.Len() != 0 {
			t.Fatal("a fill that could not be placed against the feed was cached")
		}
	})
}

// A change naming no transaction (a snapshot row from a source that does
// not say its position) or from another GTID source cannot be placed
// against what the cache holds: the product is evicted, not patched.
func TestBinlogOrderUnplacedChangesEvict(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		snap := domain.StockChange{Op: domain.OpRead, Row: domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 12}}
		if out := s.ApplyStock(snap); out != Evicted {
			t.Fatalf("snapshot row without a GTID: %v, want evicted", out)
		}
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.ApplyStock(db.write(1, 2, 13)) // the row now stands at an event of domain 0
		other := db.write(1, 2, 14)
		other.GTID = gtid(fmt.Sprintf("5-1-%d", other.GTID.Seq))
		if out := s.ApplyStock(other); out != Evicted {
			t.Fatalf("a change of another GTID source: %v, want evicted", out)
		}
		expect(t, s, 1, "[{WH-A 14} {WH-B 11}]")
	})
}

// A null-value delete names no transaction: it deletes what the change
// before it wrote, and stands after that change, in its transaction or a
// later one. A fill read after that change, the row still there, may have
// been taken before the delete: the delete must not be taken for one the
// fill already reflected.
func TestModesNullValueDeleteAfterAFillThatReadTheRow(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		clock := expiring(s)
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.ApplyStock(at(7, db.write(1, 2, 20)))
		clock.Advance(20 * time.Second) // the entry expired, the marker did not
		expect(t, s, 1, "[{WH-A 20} {WH-B 11}]")
		db.del(1, 2)
		s.ApplyStock(at(8, deleteByKey(1, 2)))
		expect(t, s, 1, "[{WH-B 11}]")
	})
}

// A reader saw a row deleted by a null value; the entry expires and a
// lagging replica that has the change before the delete, not the delete,
// refills it: the row must not come back.
func TestModesNullValueDeleteSurvivesARefillFromALaggingReplica(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		clock := expiring(s)
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.ApplyStock(at(7, db.write(1, 2, 20)))
		db.lag() // the replica has the update, not the delete
		db.del(1, 2)
		s.ApplyStock(at(8, deleteByKey(1, 2)))
		expect(t, s, 1, "[{WH-B 11}]")
		clock.Advance(20 * time.Second) // the entry expired, the marker did not
		expect(t, s, 1, "[{WH-B 11}]")
		db.catchUp()
		expect(t, s, 1, "[{WH-B 11}]")
	})
}

// An expired entry held a change the feed delivered; its marker is gone
// too. The refill's read overlaps that change's commit (a replica applying
// it while the read ran, from rows it read before): the read may not
// reflect it, and the refill must not answer the value before it.
func TestBinlogOrderRefillOverlappingAChangeTheExpiredEntryHeld(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		clock := expiring(s)
		s.marks.ttl = time.Second
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		db.lag()
		replica := db.repo
		s.ApplyStock(db.write(1, 2, 60))
		expect(t, s, 1, "[{WH-A 60} {WH-B 11}]")
		clock.Advance(20 * time.Second) // the entry and the marker expired
		replica.hold = func(context.Context, []int64) error {
			replica.hold = nil
			replica.setPosition(db.primary.pos) // the replica applies the change mid-read, after the rows were read
			return nil
		}
		expect(t, s, 1, "[{WH-A 60} {WH-B 11}]")
		db.catchUp()
		q := db.primary.queryCount()
		expect(t, s, 1, "[{WH-A 60} {WH-B 11}]")
		expect(t, s, 1, "[{WH-A 60} {WH-B 11}]")
		if n := db.primary.queryCount() - q; n != 1 {
			t.Fatalf("%d reads of the database for two answers, want 1: the exact refill is cached", n)
		}
	})
}

// The warehouse's null-value delete after a fill read the warehouse as its
// last event left it: the read may predate the delete, which removes the
// warehouse all the same; a later read of a lagging replica does not bring
// it back.
func TestModesWarehouseNullValueDeleteAfterAReadOfIt(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		rename := domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 1, Code: "WH-Z", Active: true}, GTID: db.next(), Sub: db.sub, Position: 5}
		if !db.order.Binlog {
			rename.Row.Version = 2
		}
		db.primary.putWarehouse(rename.Row)
		s.ApplyWarehouse(rename)
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]") // the fill reads the renamed warehouse
		db.lag()                                 // the replica keeps it
		null := domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 1}, ByKey: true, Position: 6}
		s.ApplyWarehouse(null)
		expect(t, s, 1, "[{WH-A 12}]")
		s.Flush() // the next read refills, from the lagging replica
		expect(t, s, 1, "[{WH-A 12}]")
	})
}

// The database runs ahead of the feed: a row was updated, deleted (a null
// value, which names no transaction), re-inserted and deleted again, and a
// fill read it gone. The backlog then arrives: the null value leaves a
// tombstone (in version order at the version of the change before it, in
// binlog order at no place), and the re-insert, which the fill had read
// past, must not bring the row back over it.
func TestModesBacklogOverANullValueDeleteDoesNotBringTheRowBack(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		u := db.write(1, 2, 20)
		db.del(1, 2)
		c := db.write(1, 2, 30)
		db.del(1, 2)
		s.Flush() // the next read refills, past all four
		expect(t, s, 1, "[{WH-B 11}]")
		for i, ev := range []domain.StockChange{u, deleteByKey(1, 2), c, deleteByKey(1, 2)} {
			ev.Position = int64(7 + i)
			s.ApplyStock(ev)
			expect(t, s, 1, "[{WH-B 11}]")
		}
	})
}

// Renames commit while the directory reads the warehouse table (binlog
// order): the read's span holds their transactions, so their events cannot
// be placed against it. One the read saw must not take the directory back
// to what it showed before; one it did not see must not be lost. Neither is
// taken; the table is read again and the directory shows the last rename.
func TestBinlogOrderWarehouseEventsInsideTheDirectoryReadsSpan(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		rename := func(code string) domain.WarehouseChange {
			w := domain.Warehouse{ID: 1, Code: code, Active: true}
			db.primary.putWarehouse(w)
			return domain.WarehouseChange{Op: domain.OpUpdate, Row: w, GTID: db.next(), Sub: db.sub}
		}
		reread := func(hook *func(), f func()) {
			t.Helper()
			db.primary.mu.Lock()
			*hook = func() {
				db.primary.mu.Lock()
				*hook = nil
				db.primary.mu.Unlock()
				f()
			}
			db.primary.mu.Unlock()
			if err := s.LoadDirectory(context.Background()); err != nil {
				t.Fatal(err)
			}
		}

		// The read sees both renames; their events arrive after it.
		var y, z domain.WarehouseChange
		reread(&db.primary.beforeWarehouses, func() { y, z = rename("WH-Y"), rename("WH-Z") })
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		s.ApplyWarehouse(y)
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]") // not back to WH-Y
		s.ApplyWarehouse(z)
		polltest.Until(t, 5*time.Second, "the read again", func() bool { return !s.reloading.Load() })
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")

		// The read misses a rename that commits before it ends.
		var q domain.WarehouseChange
		reread(&db.primary.afterWarehouses, func() { q = rename("WH-Q") })
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		s.ApplyWarehouse(q)
		polltest.Until(t, 5*time.Second, "the missed rename read again", func() bool { return answerOf(t, s, 1) == "[{WH-A 12} {WH-Q 11}]" })

		// A rename after the reads is placed and taken at once.
		if out := s.ApplyWarehouse(rename("WH-R")); out != Applied {
			t.Fatalf("a rename after the reads: %v, want applied", out)
		}
		expect(t, s, 1, "[{WH-A 12} {WH-R 11}]")
	})
}

// The feed is away, so reads go to the database, which renames a warehouse
// twice meanwhile: readers see the last name. When the cache is used again
// the directory is read again, so it shows no older name, and the renames'
// events, arriving late, do not take it back.
func TestModesDirectoryIsReadAgainWhenTheCacheIsUsedAgain(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.SetCacheUsable(false)
		rename := func(code string, version uint64) domain.WarehouseChange {
			w := domain.Warehouse{ID: 1, Code: code, Active: true, Version: db.readVersion(version)}
			db.primary.putWarehouse(w)
			return domain.WarehouseChange{Op: domain.OpUpdate, Row: w, GTID: db.next(), Sub: db.sub}
		}
		y, z := rename("WH-Y", 2), rename("WH-Z", 3)
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]") // from the database
		s.SetCacheUsable(true)
		if w, _ := s.Directory().Lookup(1); w.Code != "WH-Z" {
			t.Fatalf("the directory shows %s as the cache is used again, want WH-Z", w.Code)
		}
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		s.ApplyWarehouse(y)
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
		s.ApplyWarehouse(z)
		expect(t, s, 1, "[{WH-A 12} {WH-Z 11}]")
	})
}

// The directory is read again only when clients' reads went to the
// database while the cache was not in use: a feed that was away for a
// moment, unread meanwhile, costs no query as it comes back.
func TestModesDirectoryIsReadAgainOnlyAfterReadsWentToTheDatabase(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		var reads atomic.Int64
		db.primary.mu.Lock()
		db.primary.beforeWarehouses = func() { reads.Add(1) }
		db.primary.mu.Unlock()
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.SetCacheUsable(false)
		s.SetCacheUsable(true)
		if n := reads.Load(); n != 0 {
			t.Fatalf("%d reads of the warehouse table with no read in between, want 0", n)
		}
		s.SetCacheUsable(false)
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]") // from the database
		s.SetCacheUsable(true)
		if n := reads.Load(); n != 1 {
			t.Fatalf("%d reads of the warehouse table after a read went to the database, want 1", n)
		}
	})
}

// A fill reads a warehouse as the directory already has it, after changes
// to it that the feed has not delivered yet (it went away and back): the
// directory takes the fill's place all the same, so those changes, arriving
// late, are placed before it and not shown over it.
func TestModesAFillThatReadsTheSameWarehouseMovesItsPlaceOn(t *testing.T) {
	modal(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		rename := func(code string, version uint64) domain.WarehouseChange {
			w := domain.Warehouse{ID: 1, Code: code, Active: true, Version: db.readVersion(version)}
			db.primary.putWarehouse(w)
			return domain.WarehouseChange{Op: domain.OpUpdate, Row: w, GTID: db.next(), Sub: db.sub}
		}
		y, b := rename("WH-Y", 2), rename("WH-B", 3)
		s.Flush() // the next read refills: WH-B again, two renames on
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.ApplyWarehouse(y)
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
		s.ApplyWarehouse(b)
		expect(t, s, 1, "[{WH-A 12} {WH-B 11}]")
	})
}
