package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// warmHot caches ids and reads each often enough to be in the sample of
// reads.
func warmHot(t *testing.T, s *testService, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		for i := 0; i < 40*sampleEvery; i++ { // never sampled: (15/16)^640, about 1e-18
			if _, err := s.GetProductInventory(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// inspect runs one round over the sample of reads and the walk.
func inspect(t *testing.T, s *testService) InspectStats {
	t.Helper()
	st, err := s.Inspect(context.Background(), 10, 10, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInspectorEvictsAnEntryThatStaysBehind(t *testing.T) {
	repo := seeded(3)
	s, store, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1, 2, 3)
	// The database moves on and no event ever comes: a missed event.
	repo.putStock(domain.StockRow{ProductID: 2, WarehouseID: 1, QtySalable: 500, Version: 9})
	st := inspect(t, s)
	if st.Checked != 3 || !slices.Equal(st.Stale[Behind], []int64{2}) || len(st.Stale[Ahead]) != 0 {
		t.Fatalf("stats %+v, want product 2 behind of 3 checked", st)
	}
	var e Entry
	if store.Get(2, &e) {
		t.Fatal("stale entry not evicted")
	}
	if inv, _ := s.GetProductInventory(context.Background(), 2); inv.Warehouses[1].QtySalable != 500 {
		t.Fatalf("after eviction: %+v", inv)
	}
}

func TestInspectorLeavesEventsInFlightAlone(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1)
	repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 77, Version: 4})
	ctx := context.Background()
	done := make(chan InspectStats)
	go func() { st, _ := s.Inspect(ctx, 10, 10, 200*time.Millisecond); done <- st }()
	time.Sleep(20 * time.Millisecond)
	// The event arrives within the lag window.
	s.ApplyStock(stockChange('u', 1, 1, 77, 4))
	if st := <-done; len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
		t.Fatalf("an event in flight was reported stale: %+v", st)
	}
}

// A write that lands between the two looks (the database moving) is not
// evidence of a wrong entry either: its event is still to come.
func TestInspectorLeavesAMovingDatabaseAlone(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1)
	repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 77, Version: 4})
	looks := 0
	repo.hold = func(context.Context, []int64) error {
		if looks++; looks == 2 { // another write lands before the second look
			repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 78, Version: 5})
		}
		return nil
	}
	st, err := s.Inspect(context.Background(), 10, 10, 50*time.Millisecond)
	if err != nil || len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
		t.Fatalf("stats %+v err %v: a moving database was taken for a wrong entry", st, err)
	}
}

func TestInspectorDetectsAMissedDelete(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1)
	repo.deleteStock(1, 2)
	if st := inspect(t, s); !slices.Equal(st.Stale[Behind], []int64{1}) {
		t.Fatalf("stats %+v, want the missed delete found", st)
	}
}

// The cache can also run ahead of the database: a forged or replayed event
// with a huge version, a forged delete, or a database restored from a
// backup (versions go back without an event). The product is evicted and
// its markers forgotten, so the next fill answers the database and keeps
// answering it.
func TestInspectorEvictsAnEntryThatStaysAhead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrong func(s *testService, repo *fakeRepo)
	}{
		{"forged event with version 9e15", func(s *testService, _ *fakeRepo) {
			s.ApplyStock(stockChange(domain.OpUpdate, 1, 2, 9999, 9e15))
		}},
		{"forged delete", func(s *testService, _ *fakeRepo) {
			s.ApplyStock(deleteOf(1, 2, 12, 1))
		}},
		{"database restored from a backup", func(_ *testService, repo *fakeRepo) {
			repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 12, Version: 1})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := seeded(1)
			s, store, _ := newTestService(t, repo, testConfig())
			if tc.name == "database restored from a backup" {
				// The cache saw versions up to 5 before the restore.
				repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 55, Version: 5})
			}
			warmHot(t, s, 1)
			tc.wrong(s, repo)
			if st := inspect(t, s); !slices.Equal(st.Stale[Ahead], []int64{1}) || len(st.Stale[Behind]) != 0 {
				t.Fatalf("stats %+v, want product 1 ahead", st)
			}
			var e Entry
			if store.Get(1, &e) {
				t.Fatal("the entry ahead was not evicted")
			}
			for i := 0; i < 2; i++ {
				if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
					t.Fatalf("read %d after eviction: %s, want the database's answer", i, got)
				}
			}
			if st := inspect(t, s); len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
				t.Fatalf("the refilled entry is still wrong: %+v", st)
			}
		})
	}
}

// Products read too rarely to be in the sample of reads are reached by the
// walk over the whole store, a bounded number per round.
func TestInspectorWalkReachesEntriesOutsideTheSample(t *testing.T) {
	repo := seeded(30)
	s, _, _ := newTestService(t, repo, testConfig())
	for p := int64(1); p <= 30; p++ {
		answerOf(t, s, p)
	}
	s.reads.forget() // read once each: none may be in the sample
	repo.putStock(domain.StockRow{ProductID: 23, WarehouseID: 1, QtySalable: 1, Version: 7})
	checked := 0
	for round := 1; round <= 3; round++ {
		st, err := s.Inspect(context.Background(), 10, 10, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if st.Checked > 10 {
			t.Fatalf("round %d checked %d products, more than the 10 asked for", round, st.Checked)
		}
		checked += st.Checked
		if slices.Equal(st.Stale[Behind], []int64{23}) {
			if checked > 30 {
				t.Fatalf("found after checking %d products of 30", checked)
			}
			return
		}
	}
	t.Fatal("three rounds of 10 did not reach product 23 of 30")
}

// A round that evicts many products writes one line, with the counts and
// the first products of each direction; none when it evicts nothing.
func TestInspectorLogsOneLinePerRound(t *testing.T) {
	repo := seeded(30)
	var buf logtest.Buffer
	s := newService(testConfig(), repo, newFakeStore(), nil, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err := s.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}
	for p := int64(1); p <= 30; p++ {
		answerOf(t, s, p)
	}
	if st := inspect(t, s); len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 || len(buf.Lines()) != 0 {
		t.Fatalf("a clean round: %+v, log %q", st, buf.Lines())
	}
	for p := int64(1); p <= 20; p++ {
		repo.putStock(domain.StockRow{ProductID: p, WarehouseID: 1, QtySalable: 1, Version: 7}) // missed events
	}
	st, err := s.Inspect(context.Background(), 0, 100, time.Millisecond)
	if err != nil || len(st.Stale[Behind]) != 20 {
		t.Fatalf("round: %+v %v, want 20 behind", st, err)
	}
	lines := buf.Lines()
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], `"behind":20`) ||
		!strings.Contains(lines[0], `"behind_products":[1,2,3,4,5,6,7,8,9,10]`) {
		t.Fatalf("log of the round: %q, want one WARN line with 20 behind and the first ten", lines)
	}
}

// The inspector in binlog order: rows carry no version, so a cached product
// is compared with the database by value and presence, and which way it
// differs is told by where the cached row stands against the database's
// position (divergesInBinlogOrder). A cache ahead of the database (a forged
// change with a huge GTID sequence) and one behind it (a missed change) are
// evicted after two looks a lag window apart, their markers forgotten, and
// the next fill answers the database; a product the feed patched correctly
// is left alone, though its rows stand at GTIDs and the database's read at
// none.
func TestInspectorInBinlogOrder(t *testing.T) {
	forged := func(db *binlogDB, op domain.Op, qty int32) domain.StockChange {
		return domain.StockChange{Op: op, Row: domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: qty},
			GTID: domain.GTID{Source: gtid("0-1-1").Source, Seq: 9e15}, Sub: 10}
	}
	for _, tc := range []struct {
		name  string
		wrong func(db *binlogDB, s *testService)
		want  Direction
	}{
		{"forged change with GTID sequence 9e15", func(db *binlogDB, s *testService) {
			s.ApplyStock(forged(db, domain.OpUpdate, 9999))
		}, Ahead},
		{"forged delete with GTID sequence 9e15", func(db *binlogDB, s *testService) {
			s.ApplyStock(forged(db, domain.OpDelete, 12))
		}, Ahead},
		{"missed change", func(db *binlogDB, _ *testService) { db.write(1, 2, 500) }, Behind},
		{"missed delete", func(db *binlogDB, _ *testService) { db.del(1, 2) }, Behind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
				warmHot(t, s, 1)
				if out := s.ApplyStock(db.write(1, 1, 15)); out != Applied { // the row now stands at a GTID
					t.Fatalf("the feed's change: %v, want applied to the cached product", out)
				}
				if st := inspect(t, s); len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
					t.Fatalf("a product the feed patched correctly was evicted: %+v", st)
				}
				tc.wrong(db, s)
				other := map[Direction]Direction{Ahead: Behind, Behind: Ahead}[tc.want]
				st := inspect(t, s)
				if !slices.Equal(st.Stale[tc.want], []int64{1}) || len(st.Stale[other]) != 0 {
					t.Fatalf("stats %+v, want product 1 %s", st, tc.want)
				}
				var e Entry
				if store.Get(1, &e) {
					t.Fatal("the entry was not evicted")
				}
				want := databaseAnswer(t, db)
				for i := 0; i < 2; i++ {
					if got := answerOf(t, s, 1); got != want {
						t.Fatalf("read %d after eviction: %s, want the database's %s", i, got, want)
					}
				}
				if st := inspect(t, s); len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
					t.Fatalf("the refilled entry is still wrong: %+v", st)
				}
			})
		})
	}
}

// In binlog order too, a change whose event arrives within the lag window
// is in flight, not missed.
func TestInspectorInBinlogOrderLeavesEventsInFlightAlone(t *testing.T) {
	binlogOnly(t, func(t *testing.T, db *binlogDB, s *testService, store *fakeStore) {
		warmHot(t, s, 1)
		ev := db.write(1, 2, 77)
		done := make(chan InspectStats)
		go func() { st, _ := s.Inspect(context.Background(), 10, 10, 200*time.Millisecond); done <- st }()
		time.Sleep(20 * time.Millisecond)
		s.ApplyStock(ev)
		if st := <-done; len(st.Stale[Behind])+len(st.Stale[Ahead]) != 0 {
			t.Fatalf("an event in flight was reported stale: %+v", st)
		}
	})
}

// databaseAnswer is what the database holds for product 1, read straight.
func databaseAnswer(t *testing.T, db *binlogDB) string {
	t.Helper()
	rows, err := db.primary.StockByProducts(context.Background(), []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := domain.InventoryFromJoined(1, rows)
	return fmt.Sprint(inv.Warehouses)
}
