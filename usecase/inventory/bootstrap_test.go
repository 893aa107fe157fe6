package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// bootstrapRig is a service that builds its cache from events, with a
// database it must not read while doing so.
func bootstrapRig(t *testing.T, db *binlogDB, o domain.Order) (*testService, *fakeStore) {
	t.Helper()
	cfg := testConfig()
	cfg.StockOrder, cfg.WarehouseOrder = o, o
	cfg.Bootstrap = true
	store := newFakeStore()
	s := newService(cfg, readsFrom{db}, store, nil, nil)
	s.SetCacheUsable(false) // the tracker's first word
	return s, store
}

// The bootstrap holds from the service's construction, before the change
// feed (or anything else) has said a word: a part that starts first must
// not take the cache for empty and read the directory from the database;
// and the cache it builds is not used before it is complete.
func TestBootstrapHoldsFromConstruction(t *testing.T) {
	cfg := testConfig()
	cfg.Bootstrap = true
	s := newService(cfg, seeded(1), newFakeStore(), nil, nil)
	if !s.Bootstrapping() || s.CacheUsable() {
		t.Fatalf("a new service bootstrapping: %v, cache usable: %v; want true, false", s.Bootstrapping(), s.CacheUsable())
	}
	off := testConfig()
	off.Bootstrap, off.CacheEnabled = true, false
	if s := newService(off, seeded(1), nil, nil, nil); s.Bootstrapping() {
		t.Fatal("a service without a cache bootstraps")
	}
}

// With --stale-if-error (its default is 10m) the feed's being lost keeps
// what the cache holds for stale answers, and its return drops it. While
// bootstrapping nothing has answered from the cache, so nothing is held:
// the tracker's first word, or the broker lost for a while, must leave
// what the topics built, and the bootstrap ends as it would without
// stale-if-error. Nor may a read with the database down answer from the
// half-built cache.
func TestBootstrapWithStaleIfErrorHoldsNothing(t *testing.T) {
	db := newBinlogDB(domain.ByVersion)
	cfg := testConfig()
	cfg.Bootstrap = true
	cfg.StaleIfError = 10 * time.Minute
	store := newFakeStore()
	s := newService(cfg, readsFrom{db}, store, nil, nil)
	s.SetFeedClock(time.Now)
	s.SetCacheUsable(false) // the tracker's first word
	s.ApplyWarehouse(domain.WarehouseChange{Op: domain.OpRead, Row: domain.Warehouse{ID: 1, Code: "WH-B", Active: true, Version: 1}})
	s.ApplyStock(db.write(1, 1, 11))
	s.SetCacheUsable(false) // the broker lost for a while
	db.primary.setErr(domain.Unavailablef("database down"))
	if inv, err := s.GetProductInventory(context.Background(), 1); err == nil {
		t.Fatalf("with the database down a bootstrapping node answered %v from its half-built cache", inv.Warehouses)
	}
	db.primary.setErr(nil)
	s.ApplyStock(db.write(2, 1, 5))
	s.SetCacheUsable(true) // caught up
	if s.BootstrapAbandoned() || !s.Directory().Loaded() || store.Len() != 2 {
		t.Fatalf("after the bootstrap: abandoned %v, directory loaded %v, %d entries; want false, true, 2",
			s.BootstrapAbandoned(), s.Directory().Loaded(), store.Len())
	}
	q := db.primary.queryCount()
	expect(t, s, 1, "[{WH-B 11}]")
	expect(t, s, 2, "[{WH-B 5}]")
	if n := db.primary.queryCount() - q; n != 0 {
		t.Fatalf("%d queries answering bootstrapped products", n)
	}
}

// The topics, read from their start, build the cache: once the feed is
// live every product they hold answers from memory, deletes included, and
// the directory comes from the warehouses topic: no query at all.
func TestBootstrapBuildsTheCacheFromTheTopics(t *testing.T) {
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			db := newBinlogDB(o.order)
			var feed []domain.StockChange
			for p := int64(1); p <= 3; p++ {
				feed = append(feed, db.write(p, 1, int32(p)), db.write(p, 2, int32(10*p)))
			}
			feed = append(feed, db.write(1, 1, 7), db.del(2, 2), db.write(3, 3, 33))
			s, _ := bootstrapRig(t, db, o.order)
			for _, w := range []domain.Warehouse{{ID: 1, Code: "WH-B", Active: true, Version: 1}, {ID: 2, Code: "WH-A", Active: true, Version: 1},
				{ID: 3, Code: "WH-C", Active: true, Version: 1}} {
				ev := domain.WarehouseChange{Op: domain.OpRead, Row: w, GTID: db.next(), Sub: db.sub}
				if o.order.Binlog {
					ev.Row.Version = 0
				}
				if out := s.ApplyWarehouse(ev); out != Applied {
					t.Fatalf("warehouse %d: %v", w.ID, out)
				}
			}
			for _, ev := range feed {
				s.ApplyStock(ev)
			}
			if s.Directory().Loaded() {
				t.Fatal("directory loaded before the feed was live")
			}
			s.SetCacheUsable(true) // caught up
			if s.Bootstrapping() || !s.Directory().Loaded() {
				t.Fatal("bootstrap not over once live")
			}
			q := db.primary.queryCount()
			expect(t, s, 1, "[{WH-A 10} {WH-B 7}]")
			expect(t, s, 2, "[{WH-B 2}]")
			expect(t, s, 3, "[{WH-A 30} {WH-B 3} {WH-C 33}]")
			if n := db.primary.queryCount(); n != q {
				t.Fatalf("%d queries answering bootstrapped products", n-q)
			}
			// After the bootstrap, events patch as always.
			if out := s.ApplyStock(db.write(1, 2, 11)); out != Applied {
				t.Fatalf("live event: %v", out)
			}
			expect(t, s, 1, "[{WH-A 11} {WH-B 7}]")
		})
	}
}

// Snapshot rows that name no transaction (Debezium's) are taken in feed
// order while bootstrapping; placed changes after them win.
func TestBootstrapTakesUnplacedSnapshotRowsInFeedOrder(t *testing.T) {
	db := newBinlogDB(domain.ByBinlog)
	s, _ := bootstrapRig(t, db, domain.ByBinlog)
	s.dir.Load([]domain.Warehouse{{ID: 1, Code: "WH-B", Active: true}}, domain.Span{})
	snap := domain.StockChange{Op: domain.OpRead, Row: domain.StockRow{ProductID: 5, WarehouseID: 1, QtySalable: 4}}
	if out := s.ApplyStock(snap); out != Applied {
		t.Fatalf("snapshot row: %v", out)
	}
	db.primary.putStock(domain.StockRow{ProductID: 5, WarehouseID: 1, QtySalable: 4})
	s.ApplyStock(db.write(5, 1, 9))
	s.SetCacheUsable(true)
	expect(t, s, 5, "[{WH-B 9}]")
}

// A gap while bootstrapping (the broker lost data) ends the bootstrap: the
// feed goes on from where it is, so what the topics would still have built
// is never read; the cache fills from the database instead, directory
// included. Losing the broker for a while does not end it: the feed
// resumes where it stopped.
func TestBootstrapInterruptedByAGapFallsBackToTheDatabase(t *testing.T) {
	db := newBinlogDB(domain.ByVersion)
	s, store := bootstrapRig(t, db, domain.ByVersion)
	s.ApplyStock(db.write(1, 1, 11))
	s.SetCacheUsable(false) // the feed lost for a while
	if !s.Bootstrapping() || store.Len() != 1 {
		t.Fatal("a lost feed ended the bootstrap")
	}
	s.Flush() // a gap
	if s.Bootstrapping() || !s.BootstrapAbandoned() || store.Len() != 0 {
		t.Fatalf("after a gap: bootstrapping %v abandoned %v entries %d", s.Bootstrapping(), s.BootstrapAbandoned(), store.Len())
	}
	if out := s.ApplyStock(db.write(2, 1, 5)); out != Marked {
		t.Fatalf("an event after the abandoned bootstrap: %v, want only a marker", out)
	}
	s.SetCacheUsable(true)
	if s.Directory().Loaded() {
		t.Fatal("the directory counts as loaded without a database read after an abandoned bootstrap")
	}
	if err := s.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, s, 1, "[{WH-B 11}]")
}

// Topics without a snapshot hold no warehouse: the directory cannot come
// from them (every product would look unstocked); it is read from the
// database. An implicit directory (no warehouses table) needs none.
func TestBootstrapWithoutWarehousesReadsTheDirectoryFromTheDatabase(t *testing.T) {
	db := newBinlogDB(domain.ByVersion)
	s, _ := bootstrapRig(t, db, domain.ByVersion)
	s.ApplyStock(db.write(1, 1, 11))
	s.SetCacheUsable(true)
	if s.Directory().Loaded() || !s.BootstrapAbandoned() {
		t.Fatal("an empty warehouses topic was taken for the directory")
	}
	if err := s.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(t, s, 1, "[{WH-B 11}]")

	cfg := testConfig()
	cfg.ImplicitWarehouses, cfg.Bootstrap = true, true
	implicit := newService(cfg, readsFrom{db}, newFakeStore(), nil, nil)
	implicit.SetCacheUsable(false)
	implicit.ApplyStock(db.write(2, 7, 3))
	implicit.SetCacheUsable(true)
	if !implicit.Directory().Loaded() || implicit.BootstrapAbandoned() {
		t.Fatal("an implicit directory needs no warehouses topic")
	}
	expect(t, implicit, 2, "[{7 3}]")
}
