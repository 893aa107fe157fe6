package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

func stockChange(op domain.Op, p, w int64, qty int32, v uint64) domain.StockChange {
	return domain.StockChange{Op: op, Row: domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: qty, Version: v}}
}

// deleteOf is the event a DELETE of the row (p, w) makes when the row holds
// qty at version v: a DELETE changes no column, so the before image Debezium
// and the relay send is the row as it was, with the version it already had.
func deleteOf(p, w int64, qty int32, v uint64) domain.StockChange {
	return stockChange(domain.OpDelete, p, w, qty, v)
}

func qtyIn(t *testing.T, s *testService, p int64, code string) (int32, bool) {
	t.Helper()
	inv, err := s.GetProductInventory(context.Background(), p)
	if errors.Is(err, domain.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range inv.Warehouses {
		if l.WarehouseCode == code {
			return l.QtySalable, true
		}
	}
	return 0, false
}

// Each case starts with product 1 cached (WH-B qty 11 v1, WH-A qty 12 v1,
// WH-C inactive) and applies events in order; the DB is not touched again.
func TestApplyRulesOnCachedProduct(t *testing.T) {
	cases := []struct {
		name     string
		events   []domain.StockChange
		outcomes []Outcome
		code     string
		wantQty  int32
		wantRow  bool
	}{
		{"update patches in place", []domain.StockChange{stockChange('u', 1, 2, 500, 2)}, []Outcome{Applied}, "WH-A", 500, true},
		{"older version ignored", []domain.StockChange{stockChange('u', 1, 2, 500, 3), stockChange('u', 1, 2, 7, 2)}, []Outcome{Applied, Older}, "WH-A", 500, true},
		{"duplicate ignored", []domain.StockChange{stockChange('u', 1, 2, 500, 3), stockChange('u', 1, 2, 500, 3)}, []Outcome{Applied, Older}, "WH-A", 500, true},
		{"same version as cached ignored", []domain.StockChange{stockChange('u', 1, 2, 999, 1)}, []Outcome{Older}, "WH-A", 12, true},
		// Ties: a delete carries the version the row already had.
		{"a real DELETE removes the row at its own version", []domain.StockChange{deleteOf(1, 2, 12, 1)}, []Outcome{Applied}, "WH-A", 0, false},
		{"a DELETE after an update removes it", []domain.StockChange{stockChange('u', 1, 2, 40, 2), deleteOf(1, 2, 40, 2)}, []Outcome{Applied, Applied}, "WH-A", 0, false},
		{"the update a delete removed, re-delivered, stays deleted", []domain.StockChange{stockChange('u', 1, 2, 40, 2), deleteOf(1, 2, 40, 2), stockChange('u', 1, 2, 40, 2)}, []Outcome{Applied, Applied, Older}, "WH-A", 0, false},
		{"an older update re-delivered after a delete stays deleted", []domain.StockChange{deleteOf(1, 2, 12, 1), stockChange('c', 1, 2, 12, 1)}, []Outcome{Applied, Older}, "WH-A", 0, false},
		{"a duplicate delete changes nothing", []domain.StockChange{deleteOf(1, 2, 12, 1), deleteOf(1, 2, 12, 1)}, []Outcome{Applied, Older}, "WH-A", 0, false},
		{"a delete older than the cached row is ignored", []domain.StockChange{stockChange('u', 1, 2, 40, 2), deleteOf(1, 2, 12, 1)}, []Outcome{Applied, Older}, "WH-A", 40, true},
		{"a re-insert comes with a newer version and wins", []domain.StockChange{deleteOf(1, 2, 12, 1), stockChange('c', 1, 2, 40, 2)}, []Outcome{Applied, Applied}, "WH-A", 40, true},
		{"the old delete re-delivered after a re-insert changes nothing", []domain.StockChange{deleteOf(1, 2, 12, 1), stockChange('c', 1, 2, 40, 2), deleteOf(1, 2, 12, 1)}, []Outcome{Applied, Applied, Older}, "WH-A", 40, true},
		{"snapshot read is an upsert", []domain.StockChange{stockChange('r', 1, 2, 77, 9)}, []Outcome{Applied}, "WH-A", 77, true},
		{"insert into another warehouse", []domain.StockChange{stockChange('c', 1, 4, 3, 2)}, []Outcome{Applied}, "WH-D", 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := seeded(1)
			repo.putWarehouse(domain.Warehouse{ID: 4, Code: "WH-D", Active: true, Version: 1})
			s, _, _ := newTestService(t, repo, testConfig())
			if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			q := repo.queryCount()
			for i, ev := range tc.events {
				if got := s.ApplyStock(ev); got != tc.outcomes[i] {
					t.Fatalf("event %d: outcome %v, want %v", i, got, tc.outcomes[i])
				}
			}
			qty, ok := qtyIn(t, s, 1, tc.code)
			if ok != tc.wantRow || qty != tc.wantQty {
				t.Fatalf("%s: qty %d present %v, want %d %v", tc.code, qty, ok, tc.wantQty, tc.wantRow)
			}
			if repo.queryCount() != q {
				t.Fatal("applying events went to the database")
			}
		})
	}
}

func TestInsertOverCachedNotFoundMakesItFound(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	if _, ok := qtyIn(t, s, 50, "WH-A"); ok {
		t.Fatal("product 50 found before insert")
	}
	if out := s.ApplyStock(stockChange('c', 50, 2, 8, 1)); out != Applied {
		t.Fatalf("outcome %v, want applied to the negative entry", out)
	}
	if qty, ok := qtyIn(t, s, 50, "WH-A"); !ok || qty != 8 {
		t.Fatalf("after insert: qty %d found %v", qty, ok)
	}
	if repo.loadsOf(50) != 1 {
		t.Fatal("insert was not applied in place")
	}
}

func TestTruncateFlushesStockEntries(t *testing.T) {
	repo := seeded(1)
	s, store, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if s.ApplyStock(domain.StockChange{Op: domain.OpTruncate}) != Flushed || store.Len() != 0 {
		t.Fatal("truncate did not flush")
	}
}

func TestWarehouseChangesReachEveryProductWithoutEviction(t *testing.T) {
	repo := seeded(3)
	s, store, _ := newTestService(t, repo, testConfig())
	for p := int64(1); p <= 3; p++ {
		if _, err := s.GetProductInventory(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	q := repo.queryCount()
	steps := []struct {
		change domain.WarehouseChange
		want   string // codes of product 2, in order
	}{
		{domain.WarehouseChange{Op: 'u', Row: domain.Warehouse{ID: 2, Code: "WH-Z", Active: true, Version: 2}}, "[{WH-B 21} {WH-Z 22}]"},
		{domain.WarehouseChange{Op: 'u', Row: domain.Warehouse{ID: 3, Code: "WH-C", Active: true, Version: 2}}, "[{WH-B 21} {WH-C 23} {WH-Z 22}]"},
		{domain.WarehouseChange{Op: 'u', Row: domain.Warehouse{ID: 1, Code: "WH-B", Active: false, Version: 2}}, "[{WH-C 23} {WH-Z 22}]"},
		// an older rename arriving late changes nothing
		{domain.WarehouseChange{Op: 'u', Row: domain.Warehouse{ID: 2, Code: "WH-OLD", Active: true, Version: 1}}, "[{WH-C 23} {WH-Z 22}]"},
		// A DELETE carries the version the row already had (2, from the step above).
		{domain.WarehouseChange{Op: 'd', Row: domain.Warehouse{ID: 3, Code: "WH-C", Active: true, Version: 2}}, "[{WH-Z 22}]"},
	}
	for i, st := range steps {
		s.ApplyWarehouse(st.change)
		inv, err := s.GetProductInventory(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(inv.Warehouses); got != st.want {
			t.Fatalf("step %d: %s, want %s", i, got, st.want)
		}
	}
	if store.Len() != 3 || repo.queryCount() != q {
		t.Fatalf("entries %d, extra queries %d: warehouse changes must not evict or reload", store.Len(), repo.queryCount()-q)
	}
}

// No stale fill: an event is handled, then a fill reads a source that has
// not seen the change yet (a lagging replica). The fill must neither cache
// nor answer the old value: the event's marker corrects it.
func TestFillOlderThanAHandledEventIsCorrected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		event domain.StockChange
		want  string
	}{
		{"update", stockChange('u', 1, 2, 99, 2), "[{WH-A 99} {WH-B 11}]"},
		{"delete", deleteOf(1, 2, 12, 1), "[{WH-B 11}]"},
		{"insert", stockChange('c', 1, 4, 5, 1), "[{WH-A 12} {WH-B 11} {WH-D 5}]"},
	} {
		for _, cachedBefore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", tc.name, cachedBefore), func(t *testing.T) {
				replica := seeded(1) // never sees the change
				replica.putWarehouse(domain.Warehouse{ID: 4, Code: "WH-D", Active: true, Version: 1})
				cfg := testConfig()
				cfg.TTL, cfg.TTLJitter = 10*time.Second, 0 // shorter than the marker TTL (1m)
				s, store, m := newTestService(t, replica, cfg)
				clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
				s.now = clock.Now
				if cachedBefore {
					// The event patches a cached entry, which then expires:
					// the refill must not go back either.
					if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
						t.Fatal(err)
					}
				}
				s.ApplyStock(tc.event)
				if cachedBefore {
					clock.Advance(20 * time.Second) // the entry expired, the marker did not
				}
				inv, err := s.GetProductInventory(context.Background(), 1)
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(inv.Warehouses); got != tc.want {
					t.Fatalf("answer %s, want %s", got, tc.want)
				}
				if store.Len() != 1 {
					t.Fatal("corrected fill not cached")
				}
				before := replica.queryCount()
				inv, _ = s.GetProductInventory(context.Background(), 1)
				if got := fmt.Sprint(inv.Warehouses); got != tc.want || replica.queryCount() != before {
					t.Fatalf("cached answer %s (queries +%d), want %s from the cache", got, replica.queryCount()-before, tc.want)
				}
				if m.corrected == 0 {
					t.Fatal("correction not counted")
				}
			})
		}
	}
}

func TestEventWaitsForFillInFlightAndThenPatchesIt(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	entered := make(chan struct{})
	release := make(chan struct{})
	repo.hold = func(ctx context.Context, ids []int64) error {
		close(entered)
		<-release
		return nil
	}
	readDone := make(chan error)
	go func() { _, err := s.GetProductInventory(context.Background(), 1); readDone <- err }()
	<-entered
	applied := make(chan Outcome)
	go func() { applied <- s.ApplyStock(stockChange('u', 1, 2, 321, 2)) }()
	select {
	case out := <-applied:
		t.Fatalf("event applied (%v) while the product's fill was in flight", out)
	case <-time.After(20 * time.Millisecond):
	}
	repo.mu.Lock()
	repo.hold = nil
	repo.mu.Unlock()
	close(release)
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if out := <-applied; out != Applied {
		t.Fatalf("outcome %v, want the event to patch the fresh entry", out)
	}
	if qty, _ := qtyIn(t, s, 1, "WH-A"); qty != 321 {
		t.Fatalf("qty %d, want 321", qty)
	}
}

func TestBypassFlushesAndReadsFromDatabase(t *testing.T) {
	repo := seeded(1)
	s, store, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.SetCacheUsable(false)
	if store.Len() != 0 {
		t.Fatal("bypass kept entries")
	}
	q := repo.queryCount()
	for i := 0; i < 2; i++ {
		if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if repo.queryCount()-q != 2 || store.Len() != 0 {
		t.Fatal("reads during bypass must go to the DB and fill nothing")
	}
	s.SetCacheUsable(true)
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 1 {
		t.Fatal("cache not used after it became usable again")
	}
}

func TestFlushDuringFillDiscardsTheFill(t *testing.T) {
	repo := seeded(1)
	s, store, _ := newTestService(t, repo, testConfig())
	repo.hold = func(ctx context.Context, ids []int64) error {
		s.Flush()
		return nil
	}
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatal("a fill that straddled a flush was cached")
	}
}

// hookedStore is a fakeStore that calls onReset once it has emptied itself
// and onGet before each read. Set the hooks before reads run concurrently.
type hookedStore struct {
	*fakeStore
	onReset func()
	onGet   func(id int64)
}

func (s *hookedStore) Get(id int64, dst *Entry) bool {
	if s.onGet != nil {
		s.onGet(id)
	}
	return s.fakeStore.Get(id, dst)
}

func (s *hookedStore) Reset() {
	s.fakeStore.Reset()
	if s.onReset != nil {
		s.onReset()
	}
}

// A read that misses the store while a truncate is flushing it must not
// cache what the markers the flush is about to forget say: that brought a
// product that existed only in the cache back after the truncate, until its
// TTL. The read starts once the store is empty and the flush waits until
// the read's fill has merged the markers (the fill then looks into the
// store for an expired entry's versions); the read may answer what it saw,
// but the next read must find the product gone.
func TestReadDuringAFlushDoesNotCacheForgottenMarkers(t *testing.T) {
	repo := seeded(1) // product 50 is not in the database
	cfg := testConfig()
	store := &hookedStore{fakeStore: newFakeStore()}
	s := newService(cfg, repo, store, nil, nil)
	ctx := context.Background()
	if err := s.LoadDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProductInventory(ctx, 50); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("product 50 before its insert: %v", err)
	}
	s.ApplyStock(stockChange(domain.OpCreate, 50, 1, 8, 1))
	if _, ok := qtyIn(t, s, 50, "WH-B"); !ok {
		t.Fatal("the insert event did not reach the cached product")
	}

	var queried atomic.Bool
	merged := make(chan struct{})
	var once sync.Once
	repo.mu.Lock()
	repo.hold = func(_ context.Context, ids []int64) error {
		if slices.Contains(ids, 50) {
			queried.Store(true)
		}
		return nil
	}
	repo.mu.Unlock()
	store.onGet = func(id int64) {
		if id == 50 && queried.Load() {
			once.Do(func() { close(merged) })
		}
	}
	read := make(chan error, 1)
	store.onReset = func() {
		go func() {
			_, err := s.GetProductInventory(ctx, 50)
			read <- err
		}()
		select {
		case <-merged:
		case <-time.After(10 * time.Second):
			t.Error("the read started during the flush never reached its fill")
		}
	}
	if s.ApplyStock(domain.StockChange{Op: domain.OpTruncate}) != Flushed {
		t.Fatal("truncate did not flush")
	}
	<-read
	store.onReset, store.onGet = nil, nil
	if inv, err := s.GetProductInventory(ctx, 50); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after the truncate product 50 answers %v, %v: a read during the flush cached the forgotten markers", inv, err)
	}
}

func TestMarkersExpire(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clock.Now
	s.ApplyStock(stockChange('u', 7, 1, 1, 1))
	if n := s.SweepMarkers(); n != 1 {
		t.Fatalf("%d markers, want 1", n)
	}
	clock.Advance(2 * time.Minute)
	if n := s.SweepMarkers(); n != 0 {
		t.Fatalf("%d markers after their TTL", n)
	}
}

// A fleet flush after the database went back (a restore): entries and
// markers go, and the warehouse directory becomes what the database holds
// now, although its versions are older than the ones held.
func TestFlushAllDropsEverythingAndReplacesTheDirectory(t *testing.T) {
	repo := seeded(1)
	s, store, _ := newTestService(t, repo, testConfig())
	s.ApplyWarehouse(domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 2, Code: "WH-NEW", Active: true, Version: 5}})
	s.ApplyStock(stockChange(domain.OpUpdate, 1, 1, 99, 7))
	if got := answerOf(t, s, 1); got != "[{WH-B 99} {WH-NEW 12}]" {
		t.Fatalf("before: %s", got)
	}
	// The restore: the database is back at version 1 everywhere.
	if err := s.FlushAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 || s.SweepMarkers() != 0 {
		t.Fatalf("entries %d or markers left after the flush", store.Len())
	}
	if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
		t.Fatalf("after the flush: %s, want the database's rows and warehouse codes", got)
	}

	// With the database away the cache is flushed all the same; the
	// directory is kept and the error says so.
	repo.setErr(errors.New("connection refused"))
	s.ApplyWarehouse(domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 2, Code: "WH-X", Active: true, Version: 6}})
	if err := s.FlushAll(context.Background()); err == nil || !strings.Contains(err.Error(), "warehouse directory") {
		t.Fatalf("err %v, want the directory reload named", err)
	}
	if store.Len() != 0 {
		t.Fatal("the cache was not flushed while the database was away")
	}
	if w, ok := s.Directory().Lookup(2); !ok || w.Code != "WH-X" {
		t.Fatalf("directory lost while the database was away: %+v %v", w, ok)
	}
}
