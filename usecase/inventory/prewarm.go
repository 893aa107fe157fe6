package inventory

import (
	"context"
	"fmt"
	"time"
)

// ProductPager lists product ids in ascending order, a page at a time.
type ProductPager interface {
	ProductIDsAfter(ctx context.Context, after int64, limit int) ([]int64, error)
}

// PrewarmStats reports a prewarm.
type PrewarmStats struct {
	Products int
	Pages    int
	Elapsed  time.Duration
}

// Prewarm loads products into the cache in pages of page products, up to
// limit products (0: all), so a fresh instance serves its first requests
// from memory. It fills through the same locks, markers and flush checks as
// reads, one page query at a time, and skips products already cached. Call
// it once the cache is usable (the change feed is live): before that, fills
// store nothing.
func (s *Upkeep) Prewarm(ctx context.Context, pager ProductPager, limit, page int) (PrewarmStats, error) {
	start := time.Now()
	var st PrewarmStats
	if !s.cfg.CacheEnabled {
		return st, nil
	}
	if page <= 0 {
		page = 1000
	}
	var after int64
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	for limit == 0 || st.Products < limit {
		n := page
		if limit > 0 {
			n = min(page, limit-st.Products)
		}
		var ids []int64
		err := s.guard.do(ctx, "list products", func(ctx context.Context) error {
			var err error
			ids, err = pager.ProductIDsAfter(ctx, after, n)
			return err
		})
		if err != nil {
			return st, fmt.Errorf("prewarm after product %d: %w", after, err)
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		if err := s.warm(ctx, ids, e); err != nil {
			return st, fmt.Errorf("prewarm products %d..%d: %w", ids[0], after, err)
		}
		st.Products += len(ids)
		st.Pages++
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// warm fills the products of one page that are not cached yet.
func (s *Upkeep) warm(ctx context.Context, ids []int64, e *Entry) error {
	return s.fillMany(ctx, ids, e, func(int64, bool) {}) // ids come ascending
}
