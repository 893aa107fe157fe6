package inventory

import (
	"errors"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Stale-if-error (RFC 5861 applied to the node): when an answer needs the
// database and the database cannot give it, an entry the node holds answers
// instead, marked as possibly stale with how long it has gone unconfirmed:
//
//   - while the change feed cannot be trusted, the entries kept when it was
//     lost, for up to StaleIfError after its last sign of life;
//   - while the feed is trusted, an entry past its TTL (the feed kept it
//     patched, but the TTL is when the node stops vouching for it), for up
//     to StaleIfError after it expired.
//
// A database that is down cannot change, so such an answer is usually as
// fresh as any; what the node cannot promise is that no change was lost.

// feedSilence is how long the change feed has been silent, and whether
// entries kept since it was lost may still answer.
func (s *core) feedSilence() (time.Duration, bool) {
	if s.cfg.StaleIfError <= 0 || !s.held.Load() {
		return 0, false
	}
	sign := s.feedSign.Load()
	if sign == nil {
		return 0, false
	}
	silent := s.now().Sub((*sign)())
	return max(silent, time.Nanosecond), silent <= s.cfg.StaleIfError
}

// unconfirmedFor says how long the entry in e has gone unconfirmed, and
// whether stale-if-error lets it answer.
func (s *core) unconfirmedFor(e *Entry) (time.Duration, bool) {
	if s.cfg.StaleIfError <= 0 {
		return 0, false
	}
	if !s.usable.Load() {
		return s.feedSilence()
	}
	age := time.Duration(s.now().UnixNano() - e.ExpiresAt)
	return max(age, time.Nanosecond), age <= s.cfg.StaleIfError
}

// fromHeld answers productID from the entry held for it (read into e), when
// stale-if-error allows it; ok is false when it does not.
func (s *core) fromHeld(productID int64, e *Entry) (a answer, age time.Duration, ok bool) {
	if !s.store.Get(productID, e) {
		return answer{}, 0, false
	}
	if age, ok = s.unconfirmedFor(e); !ok {
		return answer{}, 0, false
	}
	inv, err := s.view(productID, e)
	inv.StaleFor = age
	return answer{inv: inv, found: err == nil}, age, true
}

// heldAnswer answers productID from the entry held for it, marked stale,
// when err says the database could not answer and stale-if-error allows
// it; otherwise it returns err.
func (s *core) heldAnswer(productID int64, e *Entry, err error) (domain.ProductInventory, error) {
	if !errors.Is(err, domain.ErrUnavailable) {
		return domain.ProductInventory{}, err
	}
	a, age, ok := s.fromHeld(productID, e)
	if !ok {
		return domain.ProductInventory{}, err
	}
	s.metrics.StaleServed()
	if !a.found {
		return domain.ProductInventory{}, domain.StaleNotFoundf(age, "product %d not found", productID)
	}
	return a.inv, nil
}

// heldAnswers sets answers[idx[i]] for every ids[i] from held entries, as
// heldAnswer, when all of them have one; otherwise it returns err and
// changes nothing. It returns the oldest answer's age.
func (s *core) heldAnswers(ids []int64, idx []int, answers []answer, err error) (time.Duration, error) {
	if !errors.Is(err, domain.ErrUnavailable) || s.cfg.StaleIfError <= 0 {
		return 0, err
	}
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	got := make([]answer, len(ids))
	var oldest time.Duration
	for i, id := range ids {
		a, age, ok := s.fromHeld(id, e)
		if !ok {
			return 0, err
		}
		got[i], oldest = a, max(oldest, age)
	}
	for i, a := range got {
		answers[idx[i]] = a
		s.metrics.StaleServed()
	}
	return oldest, nil
}
