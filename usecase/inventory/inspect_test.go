package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

func warmHot(t *testing.T, s *Service, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		for i := 0; i < 2; i++ {
			if _, err := s.GetProductInventory(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestInspectorEvictsAnEntryThatStaysBehind(t *testing.T) {
	repo := seeded(3)
	s, store, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1, 2, 3)
	// The database moves on and no event ever comes: a missed event.
	repo.putStock(domain.StockRow{ProductID: 2, WarehouseID: 1, QtySalable: 500, Version: 9})
	st, err := s.Inspect(context.Background(), 10, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checked != 3 || len(st.Stale) != 1 || st.Stale[0] != 2 {
		t.Fatalf("stats %+v, want product 2 stale of 3 checked", st)
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
	go func() { st, _ := s.Inspect(ctx, 10, 200*time.Millisecond); done <- st }()
	time.Sleep(20 * time.Millisecond)
	// The event arrives within the lag window.
	s.ApplyStock(stockChange('u', 1, 1, 77, 4))
	if st := <-done; len(st.Stale) != 0 {
		t.Fatalf("an event in flight was reported stale: %+v", st)
	}
}

func TestInspectorDetectsAMissedDelete(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	warmHot(t, s, 1)
	repo.deleteStock(1, 2)
	st, err := s.Inspect(context.Background(), 10, time.Millisecond)
	if err != nil || len(st.Stale) != 1 {
		t.Fatalf("stats %+v err %v, want the missed delete found", st, err)
	}
}
