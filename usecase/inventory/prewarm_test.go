package inventory

import (
	"context"
	"testing"
)

func TestPrewarmLoadsInPagesAndReadsNeedNoQuery(t *testing.T) {
	repo := seeded(250)
	s, store, _ := newTestService(t, repo, testConfig())
	st, err := s.Prewarm(context.Background(), repo, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if st.Products != 250 || st.Pages != 3 || store.Len() != 250 {
		t.Fatalf("stats %+v, entries %d; want 250 products in 3 pages", st, store.Len())
	}
	q := repo.queryCount()
	for id := int64(1); id <= 250; id++ {
		if _, err := s.GetProductInventory(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if repo.queryCount() != q {
		t.Fatalf("%d queries after prewarm", repo.queryCount()-q)
	}
}

func TestPrewarmLimitAndSkipsCached(t *testing.T) {
	repo := seeded(50)
	s, store, _ := newTestService(t, repo, testConfig())
	if _, err := s.GetProductInventory(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	before := repo.loadsOf(3)
	st, err := s.Prewarm(context.Background(), repo, 10, 4)
	if err != nil {
		t.Fatal(err)
	}
	if st.Products != 10 || store.Len() != 10 || repo.loadsOf(3) != before || repo.loadsOf(11) != 0 {
		t.Fatalf("stats %+v entries %d loads(3) %d loads(11) %d", st, store.Len(), repo.loadsOf(3), repo.loadsOf(11))
	}
}

func TestPrewarmWhileBypassedStoresNothing(t *testing.T) {
	repo := seeded(20)
	s, store, _ := newTestService(t, repo, testConfig())
	s.SetCacheUsable(false)
	if _, err := s.Prewarm(context.Background(), repo, 0, 8); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatal("prewarm filled a bypassed cache")
	}
}
