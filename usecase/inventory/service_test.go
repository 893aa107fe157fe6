package inventory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

func testConfig() Config {
	return Config{
		CacheEnabled:   true,
		TTL:            time.Hour,
		TTLJitter:      0.1,
		MarkerTTL:      time.Minute,
		DBMaxInFlight:  64,
		DBQueueTimeout: time.Second,
		DBQueryTimeout: 5 * time.Second,
	}
}

// seeded returns a repo with warehouses 1 (WH-B), 2 (WH-A), 3 (WH-C,
// inactive) and products 1..n stocked in all three.
func seeded(n int) *fakeRepo {
	r := newFakeRepo()
	r.putWarehouse(domain.Warehouse{ID: 1, Code: "WH-B", Active: true, Version: 1})
	r.putWarehouse(domain.Warehouse{ID: 2, Code: "WH-A", Active: true, Version: 1})
	r.putWarehouse(domain.Warehouse{ID: 3, Code: "WH-C", Active: false, Version: 1})
	for p := int64(1); p <= int64(n); p++ {
		for w := int64(1); w <= 3; w++ {
			r.putStock(domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(p*10 + w), Version: 1})
		}
	}
	return r
}

func newTestService(t *testing.T, repo *fakeRepo, cfg Config) (*testService, *fakeStore, *countingMetrics) {
	t.Helper()
	store := newFakeStore()
	m := &countingMetrics{}
	s := newService(cfg, repo, store, m, nil)
	if err := s.LoadDirectory(context.Background()); err != nil {
		t.Fatalf("load directory: %v", err)
	}
	return s, store, m
}

func TestGetAnswersActiveWarehousesSortedByCode(t *testing.T) {
	s, _, _ := newTestService(t, seeded(2), testConfig())
	got, err := s.GetProductInventory(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.ProductInventory{ProductID: 2, Warehouses: []domain.WarehouseStock{{WarehouseCode: "WH-A", QtySalable: 22}, {WarehouseCode: "WH-B", QtySalable: 21}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestGetServesSecondReadFromCache(t *testing.T) {
	repo := seeded(1)
	s, _, m := newTestService(t, repo, testConfig())
	for i := 0; i < 3; i++ {
		if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := repo.loadsOf(1); n != 1 {
		t.Fatalf("product loaded %d times, want 1", n)
	}
	if m.hits != 2 || m.misses != 1 {
		t.Fatalf("hits=%d misses=%d, want 2 and 1", m.hits, m.misses)
	}
}

func TestInvalidIDsAreRejectedWithoutQuery(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	for _, id := range []int64{0, -1, -9223372036854775808} {
		if _, err := s.GetProductInventory(context.Background(), id); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("id %d: err %v, want invalid argument", id, err)
		}
	}
	batches := [][]int64{nil, {}, {1, 0}, make([]int64, domain.MaxBatchSize+1)}
	for i := range batches[3] {
		batches[3][i] = int64(i + 1)
	}
	for _, b := range batches {
		if _, err := s.BatchGetProductInventory(context.Background(), b); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("batch of %d: err %v, want invalid argument", len(b), err)
		}
	}
	if q := repo.queryCount(); q != 0 {
		t.Fatalf("%d queries for invalid input", q)
	}
}

func TestUnknownProductIsCachedAsNotFound(t *testing.T) {
	repo := seeded(1)
	s, _, _ := newTestService(t, repo, testConfig())
	for i := 0; i < 3; i++ {
		_, err := s.GetProductInventory(context.Background(), 99)
		if !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("err %v, want not found", err)
		}
	}
	if n := repo.loadsOf(99); n != 1 {
		t.Fatalf("unknown product queried %d times, want 1 (negative entry)", n)
	}
}

func TestProductOnlyInInactiveWarehousesIsNotFound(t *testing.T) {
	repo := seeded(0)
	repo.putStock(domain.StockRow{ProductID: 5, WarehouseID: 3, QtySalable: 1, Version: 1})
	s, _, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 5); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("err %v, want not found", err)
	}
}

// The central coalescing claim: a storm of readers on one cold key costs
// exactly one query. Repeated to give the scheduler many interleavings.
func TestThousandReadersOfOneColdKeyCauseOneLoad(t *testing.T) {
	for round := 0; round < 20; round++ {
		repo := seeded(1)
		release := make(chan struct{})
		repo.hold = func(ctx context.Context, ids []int64) error { <-release; return nil }
		s, _, m := newTestService(t, repo, testConfig())
		var wg sync.WaitGroup
		var failures atomic.Int32
		for i := 0; i < 1000; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inv, err := s.GetProductInventory(context.Background(), 1)
				if err != nil || len(inv.Warehouses) != 2 {
					failures.Add(1)
				}
			}()
		}
		// Let the storm pile up on the lock before the one query returns.
		for s.locks.Held() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
		close(release)
		wg.Wait()
		if f := failures.Load(); f != 0 {
			t.Fatalf("round %d: %d readers failed", round, f)
		}
		if n := repo.loadsOf(1); n != 1 {
			t.Fatalf("round %d: key loaded %d times, want exactly 1", round, n)
		}
		if m.coalesced == 0 {
			t.Fatalf("round %d: no coalesced miss counted", round)
		}
		if h := s.locks.Held(); h != 0 {
			t.Fatalf("round %d: %d keys still locked", round, h)
		}
	}
}

// Batches and single reads that overlap on cold keys each load every key
// once, and never deadlock although each batch takes many locks.
func TestOverlappingBatchesAndSinglesLoadEachKeyOnce(t *testing.T) {
	for round := 0; round < 20; round++ {
		const products = 200
		repo := seeded(products)
		repo.hold = func(ctx context.Context, ids []int64) error {
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
			return nil
		}
		s, _, _ := newTestService(t, repo, testConfig())
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for g := 0; g < 40; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				for i := 0; i < 20; i++ {
					if rng.IntN(2) == 0 {
						id := int64(rng.IntN(products) + 1)
						if _, err := s.GetProductInventory(context.Background(), id); err != nil {
							errs <- err
							return
						}
						continue
					}
					ids := make([]int64, 1+rng.IntN(30))
					for j := range ids {
						ids[j] = int64(rng.IntN(products) + 1)
					}
					res, err := s.BatchGetProductInventory(context.Background(), ids)
					if err != nil {
						errs <- err
						return
					}
					if len(res.NotFound) != 0 {
						errs <- fmt.Errorf("not found: %v", res.NotFound)
						return
					}
				}
			}(g)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: readers deadlocked", round)
		}
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for id := int64(1); id <= products; id++ {
			if n := repo.loadsOf(id); n > 1 {
				t.Fatalf("round %d: product %d loaded %d times", round, id, n)
			}
		}
	}
}

func TestBatchLoadsAllMissesInOneQueryAndKeepsRequestOrder(t *testing.T) {
	repo := seeded(5)
	s, _, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	before := repo.queryCount()
	res, err := s.BatchGetProductInventory(context.Background(), []int64{5, 77, 2, 1, 5, 3, 88})
	if err != nil {
		t.Fatal(err)
	}
	if q := repo.queryCount() - before; q != 1 {
		t.Fatalf("%d queries for the misses, want 1", q)
	}
	var order []int64
	for _, inv := range res.Found {
		order = append(order, inv.ProductID)
	}
	if !slices.Equal(order, []int64{5, 2, 1, 3}) || !slices.Equal(res.NotFound, []int64{77, 88}) {
		t.Fatalf("found %v not found %v", order, res.NotFound)
	}
	// And now everything, found or not, is cached.
	before = repo.queryCount()
	if _, err := s.BatchGetProductInventory(context.Background(), []int64{5, 77, 2, 1, 3, 88}); err != nil {
		t.Fatal(err)
	}
	if q := repo.queryCount() - before; q != 0 {
		t.Fatalf("%d queries for a fully cached batch", q)
	}
}

func TestDatabaseDownServesCachedKeysAndFailsMissesAsUnavailable(t *testing.T) {
	repo := seeded(2)
	s, _, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	repo.setErr(errors.New("dial tcp: connection refused"))
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatalf("cached key failed while the DB is down: %v", err)
	}
	_, err := s.GetProductInventory(context.Background(), 2)
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("miss with DB down: %v, want unavailable", err)
	}
	if _, err := s.BatchGetProductInventory(context.Background(), []int64{1, 2}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("batch with a miss and DB down: %v, want unavailable", err)
	}
	repo.setErr(nil)
	if _, err := s.GetProductInventory(context.Background(), 2); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestSlowQueryHitsDeadlineAndReportsUnavailable(t *testing.T) {
	repo := seeded(1)
	repo.hold = func(ctx context.Context, ids []int64) error { <-ctx.Done(); return ctx.Err() }
	cfg := testConfig()
	cfg.DBQueryTimeout = 20 * time.Millisecond
	s, _, _ := newTestService(t, repo, cfg)
	_, err := s.GetProductInventory(context.Background(), 1)
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
}

func TestCallerDeadlineIsReportedAsSuch(t *testing.T) {
	repo := seeded(1)
	repo.hold = func(ctx context.Context, ids []int64) error { <-ctx.Done(); return ctx.Err() }
	s, _, _ := newTestService(t, repo, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.GetProductInventory(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("err %v, want the caller's deadline", err)
	}
}

// With every slot taken by stuck queries, a new miss fails fast instead of
// queueing behind them.
func TestSaturatedDatabaseFailsFast(t *testing.T) {
	repo := seeded(10)
	release := make(chan struct{})
	var inFlight atomic.Int32
	repo.hold = func(ctx context.Context, ids []int64) error {
		inFlight.Add(1)
		<-release
		return nil
	}
	cfg := testConfig()
	cfg.DBMaxInFlight = 2
	cfg.DBQueueTimeout = 10 * time.Millisecond
	s, _, m := newTestService(t, repo, cfg)
	var wg sync.WaitGroup
	for id := int64(1); id <= 2; id++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = s.GetProductInventory(context.Background(), id) }()
	}
	for inFlight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	_, err := s.GetProductInventory(context.Background(), 3)
	close(release)
	wg.Wait()
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("err %v, want unavailable", err)
	}
	if m.rejected != 1 {
		t.Fatalf("rejected=%d, want 1", m.rejected)
	}
}

func TestCacheDisabledQueriesEveryTime(t *testing.T) {
	repo := seeded(1)
	cfg := testConfig()
	cfg.CacheEnabled = false
	s := newService(cfg, repo, nil, nil, nil)
	for i := 0; i < 3; i++ {
		inv, err := s.GetProductInventory(context.Background(), 1)
		if err != nil || len(inv.Warehouses) != 2 {
			t.Fatalf("read %d: %+v %v", i, inv, err)
		}
	}
	if _, err := s.GetProductInventory(context.Background(), 42); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	res, err := s.BatchGetProductInventory(context.Background(), []int64{42, 1})
	if err != nil || len(res.Found) != 1 || !slices.Equal(res.NotFound, []int64{42}) {
		t.Fatalf("batch: %+v %v", res, err)
	}
	if q := repo.queryCount(); q != 5 {
		t.Fatalf("%d queries, want one per read (5)", q)
	}
}

func TestEntriesExpireAfterTTLAndSpreadWithJitter(t *testing.T) {
	repo := seeded(200)
	cfg := testConfig()
	cfg.TTL = time.Minute
	cfg.TTLJitter = 0.5
	s, store, _ := newTestService(t, repo, cfg)
	clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clock.Now
	ids := make([]int64, 200)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if _, err := s.BatchGetProductInventory(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	expiries := map[int64]bool{}
	for _, e := range store.m {
		if e.ExpiresAt > clock.Now().Add(time.Minute).UnixNano() || e.ExpiresAt < clock.Now().Add(30*time.Second).UnixNano() {
			t.Fatalf("expiry %v outside [TTL/2, TTL]", time.Unix(0, e.ExpiresAt).Sub(clock.Now()))
		}
		expiries[e.ExpiresAt] = true
	}
	if len(expiries) < 100 {
		t.Fatalf("only %d distinct expiries among 200 entries filled together", len(expiries))
	}
	clock.Advance(time.Minute + time.Second)
	before := repo.queryCount()
	if _, err := s.GetProductInventory(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if repo.queryCount() != before+1 {
		t.Fatal("expired entry served without reload")
	}
}

func TestDirectoryLoadFailureIsReported(t *testing.T) {
	repo := seeded(1)
	repo.setErr(errors.New("boom"))
	s := newService(testConfig(), repo, newFakeStore(), nil, nil)
	if err := s.LoadDirectory(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if s.Directory().Loaded() {
		t.Fatal("directory claims loaded")
	}
}
