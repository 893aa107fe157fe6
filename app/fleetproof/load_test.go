package fleetproof

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
)

// tally counts the requests of one scenario and what their answers showed.
type tally struct {
	name     string
	began    time.Time
	inflight atomic.Int64

	requests, batches atomic.Int64
	// failed: no answer (a transport error or an error status, after the
	// gateway's own retry); wrong: an answer that is not what the database
	// held while the request ran.
	failed, wrong atomic.Int64
	// answers: product answers compared with the writers' record of the
	// database, rows: their warehouse rows.
	answers, rows atomic.Int64
	// fresh: answers that had to equal the database during their request
	// (see load.fresh); behind: answers outside such a window that showed
	// a row older than the database held when the request began, the feed's
	// lag (allowed there).
	fresh, behind atomic.Int64
	// ceiling, when set, is the rank of every row the feed had carried;
	// newer counts rows shown at a higher rank: writes that reached the
	// answer from MariaDB directly.
	ceiling atomic.Pointer[[]uint64]
	newer   atomic.Int64

	problems rig.Problems
}

// succeeded is the share of requests answered, and answered right.
func (tl *tally) succeeded() float64 {
	n := tl.requests.Load()
	if n == 0 {
		return 0
	}
	return float64(n-tl.failed.Load()-tl.wrong.Load()) / float64(n)
}

// load sends a steady rate of requests to the gateway: single products
// (by path and by query) and batches that include one unknown product.
type load struct {
	client     *http.Client
	base       string
	w          *writers
	products   int
	warehouses int
	batchSize  int

	// fresh is odd while the test holds every answer to equal the database:
	// every node reads from the database (its cache bypassed), or the
	// writers are held and every cache has applied every write. A request
	// that begins and ends within one such window (the same odd value) must
	// show, for every row, a rank the database held during the request:
	// at least the rank committed before it began (acked), at most the rank
	// written last before it ended (started). That makes the comparison
	// exact although writes go on: no rank outside that range was ever in
	// the database while the request ran. Outside a window the cache may
	// lag by the feed's latency, so there an answer must only never be
	// ahead of the database.
	fresh atomic.Uint64

	mu  sync.RWMutex
	cur *tally
}

func (l *load) openFresh()  { l.fresh.Add(1) }
func (l *load) closeFresh() { l.fresh.Add(1) }

// begin starts counting requests into a new tally; requests in flight stay
// with the one they began in.
func (l *load) begin(name string) *tally {
	tl := &tally{name: name, began: time.Now()}
	l.mu.Lock()
	l.cur = tl
	l.mu.Unlock()
	return tl
}

func (l *load) enter() *tally {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.cur.inflight.Add(1)
	return l.cur
}

// settled waits until the requests counted in tl have all ended.
func (tl *tally) settled(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for tl.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// run sends perSecond requests a second, at most maxInFlight at once (the
// rate drops rather than the requests piling up), until ctx ends. It keeps
// to the rate by counting the requests due since it began, so a loaded
// machine that wakes it late gets the missed ones sent in a burst.
func (l *load) run(ctx context.Context, perSecond, maxInFlight int, seed uint64) {
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	rng := rand.New(rand.NewPCG(seed, 0))
	began := time.Now()
	for i := 0; ; i++ {
		for time.Since(began) < time.Duration(i)*time.Second/time.Duration(perSecond) {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		ids := l.pick(rng, i)
		wg.Go(func() {
			defer func() { <-slots }()
			l.one(ctx, ids, i)
		})
	}
}

// pick chooses the products of request i: one in three requests is a
// batch of distinct products and one that does not exist.
func (l *load) pick(rng *rand.Rand, i int) []int64 {
	if i%3 != 2 {
		return []int64{int64(1 + rng.IntN(l.products))}
	}
	ids := make([]int64, 0, l.batchSize)
	for _, j := range rng.Perm(l.products)[:l.batchSize-1] {
		ids = append(ids, int64(j+1))
	}
	return append(ids, int64(l.products+1+rng.IntN(1000)))
}

func (l *load) one(ctx context.Context, ids []int64, i int) {
	tl := l.enter()
	defer tl.inflight.Add(-1)
	window := l.fresh.Load()
	lo := l.ranks(ids, acked)
	answers, err := rig.Fetch(ctx, l.client, l.base, ids, i/3)
	hi := l.ranks(ids, started)
	fresh := window%2 == 1 && l.fresh.Load() == window
	if ctx.Err() != nil {
		return // the run is over: neither counted nor judged
	}
	tl.requests.Add(1)
	if len(ids) > 1 {
		tl.batches.Add(1)
	}
	if err != nil {
		tl.failed.Add(1)
		tl.problems.Add("%s: %v", time.Now().Format("15:04:05.000"), err)
		return
	}
	if bad := l.check(tl, ids, answers, lo, hi, fresh); bad != "" {
		tl.wrong.Add(1)
		tl.problems.Add("%s: products %v: %s", time.Now().Format("15:04:05.000"), ids, bad)
	}
}

// ranks reads a rank of every row of the known products among ids.
func (l *load) ranks(ids []int64, of func(*row) *atomic.Uint64) []uint64 {
	out := make([]uint64, 0, len(ids)*l.warehouses)
	for _, id := range ids {
		if id > int64(l.products) {
			continue
		}
		for wh := int64(1); wh <= int64(l.warehouses); wh++ {
			out = append(out, of(l.w.row(id, wh)).Load())
		}
	}
	return out
}

// check compares answers with the ranks the database held around the
// request (see load.fresh) and returns what was wrong, if anything.
func (l *load) check(tl *tally, ids []int64, answers []rig.Answer, lo, hi []uint64, fresh bool) string {
	byID := make(map[int64]rig.Answer, len(answers))
	for _, a := range answers {
		byID[a.ProductID] = a
	}
	if len(byID) != len(ids) {
		return fmt.Sprintf("%d answers for %d products", len(byID), len(ids))
	}
	var ceiling []uint64
	if c := tl.ceiling.Load(); c != nil {
		ceiling = *c
	}
	var bad []string
	k := 0 // index into lo and hi
	for _, id := range ids {
		a, ok := byID[id]
		if !ok {
			return fmt.Sprintf("no answer for product %d", id)
		}
		if id > int64(l.products) {
			if len(a.Warehouses) != 0 {
				bad = append(bad, fmt.Sprintf("unknown product %d found: %s", id, a))
			}
			continue
		}
		tl.answers.Add(1)
		if fresh {
			tl.fresh.Add(1)
		}
		if len(a.Warehouses) != l.warehouses {
			bad = append(bad, fmt.Sprintf("product %d: %s, want %d warehouses", id, a, l.warehouses))
			k += l.warehouses
			continue
		}
		behind := false
		for j, line := range a.Warehouses {
			wh := int64(j + 1)
			tl.rows.Add(1)
			rank, ok := l.w.rankOf(id, wh, line.Qty)
			switch {
			case line.Code != database.WarehouseCode(wh, l.warehouses):
				bad = append(bad, fmt.Sprintf("product %d: warehouse %q in place %d", id, line.Code, j+1))
			case !ok:
				bad = append(bad, fmt.Sprintf("product %d warehouse %d: quantity %d no write gave it", id, wh, line.Qty))
			case rank > hi[k]:
				bad = append(bad, fmt.Sprintf("product %d warehouse %d: rank %d, ahead of the database (at most %d)", id, wh, rank, hi[k]))
			case rank < lo[k] && fresh:
				bad = append(bad, fmt.Sprintf("product %d warehouse %d: rank %d, behind the database (at least %d) while it had to equal it", id, wh, rank, lo[k]))
			case rank < lo[k]:
				behind = true
			}
			if ceiling != nil && rank > ceiling[l.w.index(id, wh)] {
				tl.newer.Add(1)
			}
			k++
		}
		if behind {
			tl.behind.Add(1)
		}
	}
	return strings.Join(bad, "; ")
}
