package inventory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// answerOf reads product p and renders its lines, "404" when not found.
func answerOf(t *testing.T, s *testService, p int64) string {
	t.Helper()
	inv, err := s.GetProductInventory(context.Background(), p)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return "404"
	case err != nil:
		t.Fatal(err)
	}
	return fmt.Sprint(inv.Warehouses)
}

// A fill that read a row at the version a delete event carried (the delete's
// before image) read it from before the delete: a lagging replica, or a read
// of the primary that started before it. Neither the fill's answer nor what
// it caches may show the row.
func TestFillReadingTheDeletedVersionDoesNotShowIt(t *testing.T) {
	replica := seeded(1) // still holds WH-A (warehouse 2) at version 1
	s, store, _ := newTestService(t, replica, testConfig())
	s.ApplyStock(deleteOf(1, 2, 12, 1))
	if got := answerOf(t, s, 1); got != "[{WH-B 11}]" {
		t.Fatalf("fill after the delete answered %s, want [{WH-B 11}]", got)
	}
	if store.Len() != 1 {
		t.Fatal("the corrected fill was not cached")
	}
	q := replica.queryCount()
	if got := answerOf(t, s, 1); got != "[{WH-B 11}]" || replica.queryCount() != q {
		t.Fatalf("cached answer %s (queries +%d)", got, replica.queryCount()-q)
	}
}

// After a delete the entry expires and so does the marker; the refill from a
// lagging replica still reads the row at the deleted version. The expired
// entry's tombstone keeps it out.
func TestRefillAfterExpiryKeepsTheTombstoneAtTheDeletedVersion(t *testing.T) {
	replica := seeded(1)
	cfg := testConfig()
	cfg.TTL, cfg.TTLJitter, cfg.MarkerTTL = 10*time.Second, 0, time.Second
	s, _, _ := newTestService(t, replica, cfg)
	clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clock.Now
	if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
		t.Fatalf("first read %s", got)
	}
	if out := s.ApplyStock(deleteOf(1, 2, 12, 1)); out != Applied {
		t.Fatalf("delete outcome %v, want applied", out)
	}
	clock.Advance(20 * time.Second) // entry and marker both expired
	if got := answerOf(t, s, 1); got != "[{WH-B 11}]" {
		t.Fatalf("refill from the lagging replica answered %s, want [{WH-B 11}]", got)
	}
}

// deleteByKey is a null-value record with the row's key, as a flattened
// stream with delete.tombstone.handling.mode=tombstone carries a delete.
func deleteByKey(p, w int64) domain.StockChange {
	return domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: p, WarehouseID: w}, ByKey: true}
}

// A delete known only by its key evicts the product. A fill that still
// reads the row (a lagging replica) cannot tell a copy from before the
// delete from a re-insert whose event is still to come: it answers as the
// feed has it, without the row, and caches nothing; once the database no
// longer has the row, fills are cached again.
func TestNullValueDeleteEvictsAndHidesTheRowFromLaggingFills(t *testing.T) {
	for _, cachedBefore := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cachedBefore), func(t *testing.T) {
			replica := seeded(1)
			s, store, m := newTestService(t, replica, testConfig())
			want := Marked
			if cachedBefore {
				answerOf(t, s, 1)
				want = Applied
			}
			if out := s.ApplyStock(deleteByKey(1, 2)); out != want {
				t.Fatalf("outcome %v, want %v", out, want)
			}
			if store.Len() != 0 {
				t.Fatal("the product was not evicted")
			}
			if got := answerOf(t, s, 1); got != "[{WH-B 11}]" {
				t.Fatalf("answer %s, want [{WH-B 11}]", got)
			}
			if store.Len() != 0 {
				t.Fatal("a fill that read a row deleted at an unknown version was cached")
			}
			if m.corrected == 0 {
				t.Fatal("the corrected fill was not counted")
			}
			replica.deleteStock(1, 2) // the replica catches up
			if got := answerOf(t, s, 1); got != "[{WH-B 11}]" || store.Len() != 1 {
				t.Fatalf("answer %s with %d entries, want [{WH-B 11}] cached", got, store.Len())
			}
		})
	}
}

// at gives a change its feed position, as the consumer does.
func at(pos int64, c domain.StockChange) domain.StockChange {
	c.Position = pos
	return c
}

// The feed replays from its last committed offset after a broken session:
// an update, the null value that deleted it and the re-insert after it
// arrive again after all three were applied, the replay starting at each of
// them. Every pass must end as the re-insert left the row, and no read in
// between may show anything older.
func TestReplayedNullValueDeletesEndAsTheFeedDid(t *testing.T) {
	events := []domain.StockChange{
		at(10, stockChange(domain.OpUpdate, 1, 2, 30, 2)),
		at(11, deleteByKey(1, 2)),
		at(12, stockChange(domain.OpCreate, 1, 2, 40, 3)),
	}
	for from := range events {
		t.Run(fmt.Sprintf("replay from %d", events[from].Position), func(t *testing.T) {
			db := seeded(1)
			s, _, _ := newTestService(t, db, testConfig())
			answerOf(t, s, 1)
			db.putStock(events[2].Row) // the database after all three
			for _, ev := range events {
				s.ApplyStock(ev)
			}
			want := "[{WH-A 40} {WH-B 11}]"
			if got := answerOf(t, s, 1); got != want {
				t.Fatalf("first pass: %s, want %s", got, want)
			}
			for _, ev := range events[from:] {
				s.ApplyStock(ev)
				if got := answerOf(t, s, 1); got != want {
					t.Fatalf("replaying position %d: %s, want %s", ev.Position, got, want)
				}
			}
		})
	}
}

// A null value deletes the version of the change just before it, not the
// newest version a fill has read: a fill that read the re-insert before the
// null arrived keeps it.
func TestNullValueDeletesTheVersionOfTheChangeBeforeIt(t *testing.T) {
	db := seeded(1)
	s, _, _ := newTestService(t, db, testConfig())
	s.ApplyStock(at(10, stockChange(domain.OpUpdate, 1, 2, 30, 2)))
	// The row is deleted and re-inserted in the database; a fill reads the
	// re-insert before the feed delivers either.
	db.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 40, Version: 3})
	if got := answerOf(t, s, 1); got != "[{WH-A 40} {WH-B 11}]" {
		t.Fatalf("fill: %s", got)
	}
	s.ApplyStock(at(11, deleteByKey(1, 2)))
	if got := answerOf(t, s, 1); got != "[{WH-A 40} {WH-B 11}]" {
		t.Fatalf("after the null value: %s, want the re-insert kept", got)
	}
	s.ApplyStock(at(12, stockChange(domain.OpCreate, 1, 2, 40, 3)))
	if got := answerOf(t, s, 1); got != "[{WH-A 40} {WH-B 11}]" {
		t.Fatalf("after the re-insert: %s", got)
	}
}

// Warehouses follow the same ties: a warehouse deleted at its own version is
// not brought back by a fill that joined it at that version.
func TestDeletedWarehouseStaysDeletedAgainstAFillAtItsVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change domain.WarehouseChange
	}{
		{"delete event", domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 2, Code: "WH-A", Active: true, Version: 1}}},
		{"null value (version unknown)", domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 2}, ByKey: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replica := seeded(2) // still joins WH-A at version 1
			s, _, _ := newTestService(t, replica, testConfig())
			if out := s.ApplyWarehouse(tc.change); out != Applied {
				t.Fatalf("outcome %v, want applied", out)
			}
			for p := int64(1); p <= 2; p++ {
				want := fmt.Sprintf("[{WH-B %d}]", p*10+1)
				if got := answerOf(t, s, p); got != want {
					t.Fatalf("product %d: %s, want %s", p, got, want)
				}
			}
			if _, ok := s.Directory().Lookup(2); ok {
				t.Fatal("the fills brought the deleted warehouse back into the directory")
			}
			// A re-insert has a newer version and comes back.
			s.ApplyWarehouse(domain.WarehouseChange{Op: domain.OpCreate, Row: domain.Warehouse{ID: 2, Code: "WH-A", Active: true, Version: 2}})
			if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
				t.Fatalf("after re-insert: %s", got)
			}
		})
	}
}

// Warehouse null values follow the stock rules: replays of an update, the
// null that deleted it and the re-insert after it end as the feed did, and
// the null deletes the version of the event before it, not a newer version
// a fill joined.
func TestReplayedWarehouseNullValueDeletesEndAsTheFeedDid(t *testing.T) {
	wh := func(pos int64, op domain.Op, v uint64, byKey bool) domain.WarehouseChange {
		c := domain.WarehouseChange{Op: op, Row: domain.Warehouse{ID: 2, Code: "WH-A", Active: true, Version: v}, ByKey: byKey, Position: pos}
		if byKey {
			c.Row = domain.Warehouse{ID: 2}
		}
		return c
	}
	events := []domain.WarehouseChange{wh(10, domain.OpUpdate, 2, false), wh(11, domain.OpDelete, 0, true), wh(12, domain.OpCreate, 3, false)}
	for from := range events {
		t.Run(fmt.Sprintf("replay from %d", events[from].Position), func(t *testing.T) {
			s, _, _ := newTestService(t, seeded(1), testConfig())
			for _, ev := range events {
				s.ApplyWarehouse(ev)
			}
			for _, ev := range events[from:] {
				s.ApplyWarehouse(ev)
				if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
					t.Fatalf("replaying position %d: %s", ev.Position, got)
				}
			}
		})
	}
	t.Run("a fill joined the re-insert first", func(t *testing.T) {
		db := seeded(1)
		s, _, _ := newTestService(t, db, testConfig())
		s.ApplyWarehouse(events[0])
		db.putWarehouse(events[2].Row) // deleted and re-inserted in the database
		answerOf(t, s, 1)              // the fill joins the re-insert
		s.ApplyWarehouse(events[1])
		if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
			t.Fatalf("after the null value: %s, want the re-inserted warehouse kept", got)
		}
	})
}

func gtid(s string) domain.GTID {
	g, ok := domain.ParseGTID(s)
	if !ok {
		panic(s)
	}
	return g
}

func position(s string) domain.SourcePos {
	p, err := domain.ParseSourcePos(s)
	if err != nil {
		panic(err)
	}
	return p
}

// The database runs ahead of the feed (the source was down, or is catching
// up): a row was updated and then deleted, a fill read the product after the
// delete, and the update's event arrives only afterwards. The fill's
// replication position covers the update's transaction, so the event must
// not bring the row back; a change the position does not cover (a later
// re-insert) still lands.
func TestEventsOlderThanTheFillDoNotBringADeletedRowBack(t *testing.T) {
	db := seeded(1)
	db.deleteStock(1, 2) // updated at 0-1-40, deleted at 0-1-41
	db.setPosition(position("0-1-41"))
	s, _, _ := newTestService(t, db, testConfig())
	if got := answerOf(t, s, 1); got != "[{WH-B 11}]" {
		t.Fatalf("fill: %s", got)
	}
	update := stockChange(domain.OpUpdate, 1, 2, 40, 2)
	update.GTID = gtid("0-1-40")
	if out := s.ApplyStock(update); out != Older {
		t.Fatalf("outcome %v, want older: the fill read past this change", out)
	}
	if got := answerOf(t, s, 1); got != "[{WH-B 11}]" {
		t.Fatalf("after the old update: %s, want the row still gone", got)
	}
	del := deleteOf(1, 2, 40, 2)
	del.GTID = gtid("0-1-41")
	s.ApplyStock(del)
	reinsert := stockChange(domain.OpCreate, 1, 2, 50, 3)
	reinsert.GTID = gtid("0-1-42")
	if out := s.ApplyStock(reinsert); out != Applied {
		t.Fatalf("re-insert after the fill: outcome %v", out)
	}
	if got := answerOf(t, s, 1); got != "[{WH-A 50} {WH-B 11}]" {
		t.Fatalf("after the re-insert: %s", got)
	}
}

// The same for a marker: the update's event was handled while the product
// was not cached; a fill that read past it and lacks the row leaves it out.
// A fill from a replica that has not applied it yet (its position does not
// cover it) takes the row from the marker, as before.
func TestMarkersOlderThanTheFillDoNotBringADeletedRowBack(t *testing.T) {
	for _, tc := range []struct {
		name, pos, want string
	}{
		{"the read is past the update", "0-1-41", "[{WH-B 11}]"},
		{"a replica behind the update", "0-1-39", "[{WH-A 40} {WH-B 11}]"},
		{"no position", "", "[{WH-A 40} {WH-B 11}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := seeded(1)
			db.deleteStock(1, 2)
			db.setPosition(position(tc.pos))
			s, _, _ := newTestService(t, db, testConfig())
			update := stockChange(domain.OpUpdate, 1, 2, 40, 2)
			update.GTID = gtid("0-1-40")
			s.ApplyStock(update)
			if got := answerOf(t, s, 1); got != tc.want {
				t.Fatalf("fill: %s, want %s", got, tc.want)
			}
		})
	}
}
