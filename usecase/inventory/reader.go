package inventory

import (
	"context"
	"slices"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// GetProductInventory answers one product.
func (s *Reader) GetProductInventory(ctx context.Context, productID int64) (domain.ProductInventory, error) {
	if err := domain.ValidateProductID(productID); err != nil {
		return domain.ProductInventory{}, err
	}
	if !s.usable.Load() {
		inv, err := s.fromDatabase(ctx, productID)
		if err != nil {
			e := s.entries.Get().(*Entry)
			defer s.entries.Put(e)
			return s.heldAnswer(productID, e, err)
		}
		return inv, nil
	}
	s.reads.note(productID)
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	if inv, ok, err := s.cached(productID, e); ok {
		s.metrics.CacheHit()
		return inv, err
	}
	s.metrics.CacheMiss()

	if s.locks.Lock(productID) {
		// Someone else was filling this key; their result is likely there.
		if s.lookup(productID, e) {
			s.locks.Unlock(productID)
			s.metrics.Coalesced()
			return s.view(productID, e)
		}
	} else if s.lookup(productID, e) { // filled between our lookup and our lock
		s.locks.Unlock(productID)
		return s.view(productID, e)
	}
	defer s.locks.Unlock(productID)

	gen := s.generation.Load()
	rows, sp, err := s.loadToFill(ctx, []int64{productID})
	if err != nil {
		return s.heldAnswer(productID, e, err) // an expired entry, if any
	}
	s.fill(productID, rows, sp, e, gen)
	return s.view(productID, e)
}

// BatchGetProductInventory answers many products; misses are loaded with one
// query, under the same per-product locks single reads take.
func (s *Reader) BatchGetProductInventory(ctx context.Context, productIDs []int64) (domain.BatchResult, error) {
	if err := domain.ValidateBatch(productIDs); err != nil {
		return domain.BatchResult{}, err
	}
	ids := uniqueInOrder(productIDs)
	answers := make([]answer, len(ids))

	var misses []int64
	var staleFor time.Duration
	if s.usable.Load() {
		e := s.entries.Get().(*Entry)
		for i, id := range ids {
			s.reads.note(id)
			if inv, ok, err := s.cached(id, e); ok {
				s.metrics.CacheHit()
				answers[i] = answer{inv: inv, found: err == nil}
				continue
			}
			s.metrics.CacheMiss()
			misses = append(misses, id)
		}
		s.entries.Put(e)
		if len(misses) > 0 {
			if err := s.fillMisses(ctx, misses, ids, answers); err != nil {
				// Expired entries, if every miss has one.
				if staleFor, err = s.heldAnswers(misses, indexesOf(misses, ids), answers, err); err != nil {
					return domain.BatchResult{}, err
				}
			}
		}
	} else {
		rows, err := s.bypassLoad(ctx, ids)
		if err != nil {
			if staleFor, err = s.heldAnswers(ids, indexesOf(ids, ids), answers, err); err != nil {
				return domain.BatchResult{}, err
			}
		} else {
			byProduct := groupByProduct(rows)
			for i, id := range ids {
				inv, ok := domain.InventoryFromJoined(id, byProduct[id])
				answers[i] = answer{inv: inv, found: ok}
			}
		}
	}

	res := domain.BatchResult{Found: make([]domain.ProductInventory, 0, len(ids)), StaleFor: staleFor}
	for i, a := range answers {
		if a.found {
			res.Found = append(res.Found, a.inv)
		} else {
			res.NotFound = append(res.NotFound, ids[i])
		}
	}
	return res, nil
}

type answer struct {
	inv   domain.ProductInventory
	found bool
}

// fillMisses locks the missed keys in ascending order (the one global order
// that rules out deadlock), looks again, loads what is still missing in one
// query and fills it.
func (s *Reader) fillMisses(ctx context.Context, misses, ids []int64, answers []answer) error {
	sorted := slices.Clone(misses)
	slices.Sort(sorted)
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	index := make(map[int64]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	return s.fillMany(ctx, sorted, e, func(id int64, cached bool) {
		if cached {
			s.metrics.Coalesced()
		}
		answers[index[id]] = s.answerFrom(id, e)
	})
}

func (s *Reader) answerFrom(id int64, e *Entry) answer {
	inv, err := s.view(id, e)
	return answer{inv: inv, found: err == nil}
}

// cached answers from a live store entry (read into e); ok is false on a
// miss, err is the answer's (not found) on a hit.
func (s *Reader) cached(productID int64, e *Entry) (inv domain.ProductInventory, ok bool, err error) {
	if !s.lookup(productID, e) {
		return domain.ProductInventory{}, false, nil
	}
	inv, err = s.view(productID, e)
	return inv, true, err
}

// fromDatabase answers without the cache: one query, joined in the database.
func (s *Reader) fromDatabase(ctx context.Context, productID int64) (domain.ProductInventory, error) {
	rows, err := s.bypassLoad(ctx, []int64{productID})
	if err != nil {
		return domain.ProductInventory{}, err
	}
	inv, ok := domain.InventoryFromJoined(productID, rows)
	if !ok {
		return domain.ProductInventory{}, domain.NotFoundf("product %d not found", productID)
	}
	return inv, nil
}

// indexesOf returns where each of some is in all.
func indexesOf(some, all []int64) []int {
	at := make(map[int64]int, len(all))
	for i, id := range all {
		at[id] = i
	}
	idx := make([]int, len(some))
	for i, id := range some {
		idx[i] = at[id]
	}
	return idx
}

func uniqueInOrder(ids []int64) []int64 {
	seen := make(map[int64]struct{}, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out
}
