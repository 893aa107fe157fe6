package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Read your own writes. A client that committed a change passes the GTID
// it committed at (a token); the answer then reflects every transaction the
// token names, for the products asked for, or the read fails: never an
// older answer. The node proves it, cheapest first:
//
//  1. the cached entry was filled by a read that had applied the token
//     (its FillPos covers it; later events only move it forward), or the
//     change feed has applied every change up to the token (FeedPosition);
//  2. else it waits up to ReadAfterWait for the feed to get there, and
//     answers from the cache;
//  3. else it refills the product from the database, once the database has
//     applied the token (a replica may lag), under the product's lock like
//     any fill, so the entry it caches is ordered against the feed and later
//     reads with the token find it in step 1.
//
// A database that does not reach the token within the query deadline (a
// replica far behind, a forged token) makes the read fail: unavailable.

// FeedPosition tells how far the change feed has applied the database's
// transactions to the cache.
type FeedPosition interface {
	// Applied is the replication position up to which every change has
	// been applied; nil when the feed cannot tell (its source does not
	// say how far it has published).
	Applied() domain.SourcePos
	// WaitApplied returns true once Applied covers pos, false when ctx
	// ends first.
	WaitApplied(ctx context.Context, pos domain.SourcePos) bool
}

// SetFeedPosition tells the read path how far the change feed has applied
// (see FeedPosition); without it token reads prove coverage by entries and
// the database alone.
func (s *Upkeep) SetFeedPosition(f FeedPosition) { s.feedPos.Store(&f) }

// GetProductInventoryAfter answers one product with an answer that reflects
// the transactions of after (see the top of this file); an empty after is
// no bound.
func (s *Reader) GetProductInventoryAfter(ctx context.Context, productID int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	if len(after) == 0 {
		inv, err := s.GetProductInventory(ctx, productID)
		return inv, domain.FromCache, err
	}
	res, src, err := s.BatchGetProductInventoryAfter(ctx, []int64{productID}, after)
	switch {
	case err != nil:
		return domain.ProductInventory{}, src, err
	case len(res.Found) == 0:
		return domain.ProductInventory{}, src, domain.NotFoundf("product %d not found", productID)
	}
	return res.Found[0], src, nil
}

// BatchGetProductInventoryAfter is GetProductInventoryAfter for many
// products; the source is the costliest any of them needed.
func (s *Reader) BatchGetProductInventoryAfter(ctx context.Context, productIDs []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	if len(after) == 0 {
		res, err := s.BatchGetProductInventory(ctx, productIDs)
		return res, domain.FromCache, err
	}
	if err := domain.ValidateBatch(productIDs); err != nil {
		return domain.BatchResult{}, 0, err
	}
	ids := uniqueInOrder(productIDs)
	answers := make([]answer, len(ids))
	src, err := s.readAfter(ctx, ids, after, answers)
	if err != nil {
		s.metrics.ReadAfter("unavailable", 0)
		return domain.BatchResult{}, src, err
	}
	res := domain.BatchResult{Found: make([]domain.ProductInventory, 0, len(ids))}
	for i, a := range answers {
		if a.found {
			res.Found = append(res.Found, a.inv)
		} else {
			res.NotFound = append(res.NotFound, ids[i])
		}
	}
	return res, src, nil
}

// readAfter fills answers for ids, each reflecting after.
func (s *Reader) readAfter(ctx context.Context, ids []int64, after domain.SourcePos, answers []answer) (domain.ReadSource, error) {
	if !s.usable.Load() {
		return domain.FromDatabase, s.databaseAfter(ctx, ids, after, answers)
	}
	index := make(map[int64]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	missing := s.cachedAfter(ids, index, after, answers, s.feedApplied(after))
	if len(missing) == 0 {
		s.metrics.ReadAfter("cache", 0)
		return domain.FromCache, nil
	}
	if waited, ok := s.waitFeed(ctx, after); ok {
		if missing = s.cachedAfter(missing, index, after, answers, true); len(missing) == 0 {
			s.metrics.ReadAfter("waited", waited)
			return domain.FromCacheAfterWait, nil
		}
	}
	if err := s.refillAfter(ctx, missing, index, after, answers); err != nil {
		return domain.FromDatabase, err
	}
	s.metrics.ReadAfter("database", 0)
	return domain.FromDatabase, nil
}

// cachedAfter answers the ids whose cached entry reflects after (its fill
// read did, or applied says the feed did) and returns the rest; answers are
// indexed by index.
func (s *Reader) cachedAfter(ids []int64, index map[int64]int, after domain.SourcePos, answers []answer, applied bool) (missing []int64) {
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	for _, id := range ids {
		if s.lookup(id, e) && (applied || covers(e.FillPos, after)) {
			answers[index[id]] = s.answerFrom(id, e)
			continue
		}
		missing = append(missing, id)
	}
	return missing
}

// feedApplied reports whether the change feed has applied after.
func (s *core) feedApplied(after domain.SourcePos) bool {
	f := s.feedPos.Load()
	return f != nil && covers((*f).Applied(), after)
}

// waitFeed waits up to ReadAfterWait for the feed to apply after; not at
// all when the feed cannot tell how far it is.
func (s *core) waitFeed(ctx context.Context, after domain.SourcePos) (time.Duration, bool) {
	f := s.feedPos.Load()
	if f == nil || s.cfg.ReadAfterWait <= 0 || (*f).Applied() == nil {
		return 0, false
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ReadAfterWait)
	defer cancel()
	ok := (*f).WaitApplied(wctx, after)
	return time.Since(start), ok
}

// refillAfter refills the products of missing (answers indexed by index)
// from the database once it has applied after, under their locks, cached or
// not: what the cache holds may be older than the token.
func (s *Reader) refillAfter(ctx context.Context, missing []int64, index map[int64]int, after domain.SourcePos, answers []answer) error {
	if err := s.waitDatabase(ctx, after); err != nil {
		return err
	}
	sorted := slices.Clone(missing)
	slices.Sort(sorted)
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	return s.refill(ctx, sorted, e, after, func(id int64) { answers[index[id]] = s.answerFrom(id, e) })
}

// databaseAfter answers from the database alone (the cache bypassed), once
// it has applied after.
func (s *Reader) databaseAfter(ctx context.Context, ids []int64, after domain.SourcePos, answers []answer) error {
	if err := s.waitDatabase(ctx, after); err != nil {
		return err
	}
	rows, err := s.bypassLoad(ctx, ids)
	if err != nil {
		return err
	}
	byProduct := groupByProduct(rows)
	for i, id := range ids {
		inv, ok := domain.InventoryFromJoined(id, byProduct[id])
		answers[i] = answer{inv: inv, found: ok}
	}
	s.metrics.ReadAfter("database", 0)
	return nil
}

// errBehindToken is the cause of a read that the database could not serve
// at or past the token in time.
var errBehindToken = errors.New("the database has not applied the read-after GTID")

// waitDatabase returns once the database has applied after, or fails with
// ErrUnavailable after the query deadline: a replica far behind, or a token
// the database never had. It polls the position the fills read (MariaDB's
// @@gtid_current_pos, which on a replica includes what it replicated;
// MySQL's gtid_executed): that works on a primary and a replica alike,
// where MASTER_GTID_WAIT would wait out its timeout on a primary.
func (s *core) waitDatabase(ctx context.Context, after domain.SourcePos) error {
	err := s.guard.do(ctx, "wait for the read-after GTID", func(ctx context.Context) error {
		return pollPosition(ctx, s.repo, after)
	})
	if errors.Is(err, errBehindToken) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return domain.Unavailablef("read-after GTID %s not reached: the database has not applied it within %s (a replica behind, or a transaction it never had)",
			after, s.cfg.DBQueryTimeout)
	}
	return err
}

// pollPosition reads the position until it covers after or ctx ends.
func pollPosition(ctx context.Context, repo StockRepository, after domain.SourcePos) error {
	wait := time.Millisecond
	for {
		pos, err := repo.Position(ctx)
		if err != nil {
			return err
		}
		if covers(pos, after) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errBehindToken, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// refill reloads sorted (ascending: the one lock order) under their locks,
// whatever the cache holds, and calls done with each product's entry in e.
// A read that does not stand at or past after is refused: the database was
// waited for, so that is a lagging replica behind a load balancer, and the
// read fails rather than answer older data.
func (s *core) refill(ctx context.Context, sorted []int64, e *Entry, after domain.SourcePos, done func(id int64)) error {
	s.locks.LockAll(sorted)
	defer s.locks.UnlockAll(sorted)
	gen := s.generation.Load()
	rows, sp, err := s.loadToFill(ctx, sorted)
	if err != nil {
		return err
	}
	if !covers(sp.Lo, after) {
		return domain.Unavailablef("read-after GTID %s: the database read was at %s, behind it", after, sp.Lo)
	}
	byProduct := groupByProduct(rows)
	for _, id := range sorted {
		s.fill(id, byProduct[id], sp, e, gen)
		done(id)
	}
	return nil
}
