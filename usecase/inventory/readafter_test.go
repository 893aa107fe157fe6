package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// fakeFeed is a change feed that reports how far it has applied.
type fakeFeed struct {
	mu      sync.Mutex
	applied domain.SourcePos
}

func (f *fakeFeed) Applied() domain.SourcePos {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

func (f *fakeFeed) set(p domain.SourcePos) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = p
}

func (f *fakeFeed) WaitApplied(ctx context.Context, pos domain.SourcePos) bool {
	for {
		if covers(f.Applied(), pos) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond):
		}
	}
}

// readAfterRig: product 1 cached when the database was at 0-1-10; then the
// client writes WH-A := 99 at 0-1-11, and reads with that token.
func readAfterRig(t *testing.T) (*testService, *fakeRepo, *countingMetrics, domain.SourcePos) {
	t.Helper()
	repo := seeded(2)
	repo.setPosition(position("0-1-10"))
	cfg := testConfig()
	cfg.ReadAfterWait = 50 * time.Millisecond
	cfg.DBQueryTimeout = 300 * time.Millisecond
	s, _, m := newTestService(t, repo, cfg)
	if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
		t.Fatal(got)
	}
	repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 99, Version: 2})
	repo.setPosition(position("0-1-11"))
	return s, repo, m, position("0-1-11")
}

func readAfter(t *testing.T, s *testService, p int64, after domain.SourcePos) (string, domain.ReadSource) {
	t.Helper()
	inv, src, err := s.GetProductInventoryAfter(context.Background(), p, after)
	if err != nil {
		t.Fatalf("read after %s: %v", after, err)
	}
	return fmt.Sprint(inv.Warehouses), src
}

// The cache holds the product from before the write and the feed cannot
// tell how far it is: the answer comes from the database, reflects the
// write, and is cached so that the same token then finds it at once.
func TestReadAfterRefillsFromTheDatabaseAndCaches(t *testing.T) {
	s, repo, m, token := readAfterRig(t)
	if got := answerOf(t, s, 1); got != "[{WH-A 12} {WH-B 11}]" {
		t.Fatalf("without a token the cache answers %s (it is not the point here, but it should)", got)
	}
	q := repo.queryCount()
	got, src := readAfter(t, s, 1, token)
	if got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromDatabase || repo.queryCount() != q+1 {
		t.Fatalf("answer %s from %v with %d queries, want the write, from the database, 1 query", got, src, repo.queryCount()-q)
	}
	got, src = readAfter(t, s, 1, token)
	if got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromCache || repo.queryCount() != q+1 {
		t.Fatalf("again: %s from %v (%d queries)", got, src, repo.queryCount()-q)
	}
	if got := answerOf(t, s, 1); got != "[{WH-A 99} {WH-B 11}]" {
		t.Fatalf("later reads without a token: %s", got)
	}
	if m.readAfter["database"] != 1 || m.readAfter["cache"] != 1 {
		t.Fatalf("outcomes counted %v", m.readAfter)
	}
}

// An older token is covered by what the entry's fill read: no query.
func TestReadAfterAnOlderTokenIsAnsweredFromTheCache(t *testing.T) {
	s, repo, _, _ := readAfterRig(t)
	q := repo.queryCount()
	got, src := readAfter(t, s, 1, position("0-1-9"))
	if got != "[{WH-A 12} {WH-B 11}]" || src != domain.FromCache || repo.queryCount() != q {
		t.Fatalf("answer %s from %v, %d queries", got, src, repo.queryCount()-q)
	}
}

// With a feed that says how far it has applied, the read waits for it and
// answers from the cache, which the feed patched meanwhile.
func TestReadAfterWaitsForTheFeed(t *testing.T) {
	s, repo, m, token := readAfterRig(t)
	feed := &fakeFeed{applied: position("0-1-10")}
	s.SetFeedPosition(feed)
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.ApplyStock(domain.StockChange{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 99, Version: 2}, GTID: gtid("0-1-11")})
		feed.set(position("0-1-11"))
	}()
	q := repo.queryCount()
	got, src := readAfter(t, s, 1, token)
	if got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromCacheAfterWait || repo.queryCount() != q {
		t.Fatalf("answer %s from %v, %d queries; want the write from the cache after a wait", got, src, repo.queryCount()-q)
	}
	if m.readAfter["waited"] != 1 {
		t.Fatalf("outcomes %v", m.readAfter)
	}
	// Past the token, the feed's word is enough at once.
	if _, src := readAfter(t, s, 1, position("0-1-11")); src != domain.FromCache {
		t.Fatalf("source %v once the feed is past the token", src)
	}
}

// A feed that does not get there within --read-after-wait (the source is
// stopped) leaves the read to the database.
func TestReadAfterFeedTooSlowFallsBackToTheDatabase(t *testing.T) {
	s, _, _, token := readAfterRig(t)
	s.SetFeedPosition(&fakeFeed{applied: position("0-1-10")})
	start := time.Now()
	got, src := readAfter(t, s, 1, token)
	if got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromDatabase {
		t.Fatalf("answer %s from %v", got, src)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("the read did not wait for the feed first")
	}
}

// A replica behind the token is waited for, then read; a token the
// database never reaches (forged, or a replica stuck) fails as unavailable
// within the query deadline, never with older data.
func TestReadAfterWaitsForTheDatabaseOrFails(t *testing.T) {
	s, repo, _, token := readAfterRig(t)
	repo.setPosition(position("0-1-10")) // a replica that has not applied the write
	repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 12, Version: 1})
	go func() {
		time.Sleep(40 * time.Millisecond)
		repo.putStock(domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 99, Version: 2})
		repo.setPosition(position("0-1-11"))
	}()
	if got, src := readAfter(t, s, 1, token); got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromDatabase {
		t.Fatalf("answer %s from %v, want the write once the replica had it", got, src)
	}
	start := time.Now()
	_, _, err := s.GetProductInventoryAfter(context.Background(), 1, position("0-1-500"))
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("forged token: %v, want unavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("forged token failed after %s, not within the 300ms query deadline", took)
	}
}

// With the cache bypassed (the feed lost) the database answers, once past
// the token.
func TestReadAfterWithTheCacheBypassed(t *testing.T) {
	s, _, _, token := readAfterRig(t)
	s.SetCacheUsable(false)
	if got, src := readAfter(t, s, 1, token); got != "[{WH-A 99} {WH-B 11}]" || src != domain.FromDatabase {
		t.Fatalf("answer %s from %v", got, src)
	}
}

// A batch: each product proven its own way; the source is the costliest.
func TestReadAfterBatch(t *testing.T) {
	s, repo, _, token := readAfterRig(t)
	if _, _, err := s.BatchGetProductInventoryAfter(context.Background(), []int64{2}, token); err != nil {
		t.Fatal(err) // product 2 now cached at 0-1-11
	}
	q := repo.queryCount()
	res, src, err := s.BatchGetProductInventoryAfter(context.Background(), []int64{2, 1, 404}, token)
	if err != nil {
		t.Fatal(err)
	}
	if src != domain.FromDatabase || repo.queryCount() != q+1 || len(res.Found) != 2 || res.Found[0].ProductID != 2 ||
		fmt.Sprint(res.Found[1].Warehouses) != "[{WH-A 99} {WH-B 11}]" || len(res.NotFound) != 1 {
		t.Fatalf("batch %+v from %v with %d queries", res, src, repo.queryCount()-q)
	}
	if _, src, _ := s.BatchGetProductInventoryAfter(context.Background(), []int64{1, 2, 404}, token); src != domain.FromCache {
		t.Fatalf("again: %v", src)
	}
}
