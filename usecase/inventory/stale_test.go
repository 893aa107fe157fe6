package inventory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// staleRig is a node whose change feed was live, with products 1..3
// cached, and a feed clock the test moves.
type staleRig struct {
	t     *testing.T
	s     *testService
	repo  *fakeRepo
	store *fakeStore
	m     *countingMetrics
	clock *manualClock
	sign  time.Time // the feed's last sign of life
}

func newStaleRig(t *testing.T, staleIfError time.Duration) *staleRig {
	t.Helper()
	cfg := testConfig()
	cfg.StaleIfError = staleIfError
	repo := seeded(4)
	s, store, m := newTestService(t, repo, cfg)
	r := &staleRig{t: t, s: s, repo: repo, store: store, m: m, clock: &manualClock{t: time.Unix(1_700_000_000, 0)}}
	s.now = r.clock.Now
	r.sign = r.clock.Now()
	s.SetFeedClock(func() time.Time { return r.sign })
	for id := int64(1); id <= 3; id++ {
		answerOf(t, s, id)
	}
	repo.deleteStock(3, 1)
	repo.deleteStock(3, 2)
	repo.deleteStock(3, 3)
	s.ApplyStock(domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 3, WarehouseID: 1, Version: 1}})
	s.ApplyStock(domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 3, WarehouseID: 2, Version: 1}})
	s.ApplyStock(domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 3, WarehouseID: 3, Version: 1}})
	return r
}

// loseFeed is the tracker's verdict after --max-staleness of silence.
func (r *staleRig) loseFeed(silentFor time.Duration) {
	r.clock.Advance(silentFor)
	r.s.SetCacheUsable(false)
}

func (r *staleRig) dbDown() { r.repo.setErr(errors.New("dial tcp 127.0.0.1:3306: connection refused")) }

// The database down and the feed lost with it (its source reads the
// database): the node answers what it holds, marked with how long the feed
// has been silent, instead of 503 for everything.
func TestStaleIfErrorAnswersHeldEntriesWhenFeedAndDatabaseAreGone(t *testing.T) {
	r := newStaleRig(t, 10*time.Minute)
	r.dbDown()
	r.loseFeed(30 * time.Second)
	r.clock.Advance(20 * time.Second)
	ctx := context.Background()

	inv, err := r.s.GetProductInventory(ctx, 1)
	if err != nil {
		t.Fatalf("held product: %v", err)
	}
	if inv.StaleFor != 50*time.Second || len(inv.Warehouses) != 2 || inv.Warehouses[0].QtySalable != 12 {
		t.Fatalf("answer %+v, want the cached rows marked stale for 50s", inv)
	}
	// A product held as deleted answers not found, marked too.
	if _, err := r.s.GetProductInventory(ctx, 3); !errors.Is(err, domain.ErrNotFound) || domain.StaleFor(err) != 50*time.Second {
		t.Fatalf("held negative entry: %v (stale for %s)", err, domain.StaleFor(err))
	}
	// Nothing held: the database is needed, and it is down.
	if _, err := r.s.GetProductInventory(ctx, 4); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("product never cached: %v, want unavailable", err)
	}
	res, err := r.s.BatchGetProductInventory(ctx, []int64{2, 1, 3})
	if err != nil || res.StaleFor != 50*time.Second || len(res.Found) != 2 || len(res.NotFound) != 1 || res.Found[0].ProductID != 2 {
		t.Fatalf("batch of held products: %+v %v", res, err)
	}
	if _, err := r.s.BatchGetProductInventory(ctx, []int64{1, 4}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("batch with a product never cached: %v, want unavailable", err)
	}
	if r.m.staleServed != 5 {
		t.Fatalf("stale answers counted %d, want 5 (1, 3, and the batch's three)", r.m.staleServed)
	}
	if !r.s.CanAnswer() {
		t.Fatal("CanAnswer false while held entries answer")
	}
}

// Where the database answers, a lost feed still means the database: held
// entries are for when nothing better exists.
func TestStaleIfErrorPrefersTheDatabase(t *testing.T) {
	r := newStaleRig(t, 10*time.Minute)
	r.loseFeed(30 * time.Second)
	r.repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 99, Version: 2})
	inv, err := r.s.GetProductInventory(context.Background(), 1)
	if err != nil || inv.StaleFor != 0 || inv.Warehouses[0].QtySalable != 99 {
		t.Fatalf("answer %+v %v, want the database's fresh row", inv, err)
	}
	if r.m.staleServed != 0 {
		t.Fatal("a database answer counted as stale")
	}
}

// Past --stale-if-error the held entries answer no more, and a node that
// can answer nothing says so.
func TestStaleIfErrorEndsAfterItsWindow(t *testing.T) {
	r := newStaleRig(t, time.Minute)
	r.dbDown()
	r.loseFeed(30 * time.Second)
	r.clock.Advance(31 * time.Second)
	if _, err := r.s.GetProductInventory(context.Background(), 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("61s after the feed's last sign, with a 1m window: %v, want unavailable", err)
	}
	if r.s.CanAnswer() {
		t.Fatal("CanAnswer true past the window")
	}
}

// When the feed is live again nothing held through the outage survives:
// events may have been lost meanwhile.
func TestStaleIfErrorEntriesDroppedWhenTheFeedIsBack(t *testing.T) {
	r := newStaleRig(t, 10*time.Minute)
	r.loseFeed(30 * time.Second)
	if r.store.Len() == 0 {
		t.Fatal("entries dropped when the feed was lost, with stale-if-error on")
	}
	r.s.SetCacheUsable(false) // the tracker may say it again
	if r.store.Len() == 0 {
		t.Fatal("entries dropped by a repeated bypass")
	}
	r.s.SetCacheUsable(true)
	if r.store.Len() != 0 {
		t.Fatalf("%d entries survived the outage", r.store.Len())
	}
	r.dbDown()
	if _, err := r.s.GetProductInventory(context.Background(), 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("after the feed came back: %v, want unavailable (nothing held)", err)
	}
}

// --stale-if-error 0 is the behaviour from before: a lost feed flushes.
func TestStaleIfErrorOffFlushesOnALostFeed(t *testing.T) {
	r := newStaleRig(t, 0)
	r.loseFeed(30 * time.Second)
	if r.store.Len() != 0 {
		t.Fatalf("%d entries kept with stale-if-error off", r.store.Len())
	}
	r.dbDown()
	if _, err := r.s.GetProductInventory(context.Background(), 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("%v, want unavailable", err)
	}
	if r.s.CanAnswer() {
		t.Fatal("CanAnswer with nothing held")
	}
}

// With the feed live, an entry past its TTL is kept patched by the feed;
// when the database cannot refill it, it answers marked stale since its
// expiry, within the window.
func TestStaleIfErrorAnswersExpiredEntriesWhileTheFeedIsLive(t *testing.T) {
	r := newStaleRig(t, 10*time.Minute)
	r.dbDown()
	r.clock.Advance(time.Hour + 5*time.Second) // past every entry's TTL (1h, jittered shorter)
	inv, err := r.s.GetProductInventory(context.Background(), 2)
	if err != nil || inv.StaleFor < 5*time.Second || inv.StaleFor > 6*time.Minute+5*time.Second {
		t.Fatalf("expired entry: %+v %v, want it marked stale 5s..6m5s", inv, err)
	}
	res, err := r.s.BatchGetProductInventory(context.Background(), []int64{1, 2})
	if err != nil || res.StaleFor == 0 || len(res.Found) != 2 {
		t.Fatalf("batch of expired entries: %+v %v", res, err)
	}
	r.clock.Advance(11 * time.Minute)
	if _, err := r.s.GetProductInventory(context.Background(), 2); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("expired past the window: %v, want unavailable", err)
	}
}
