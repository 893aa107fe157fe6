package pipelinetorture

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/app/apptest/rig"
)

// line and answer are a read node's JSON answer for one product.
type (
	line   = rig.Line
	answer = rig.Answer
)

// parseCode reads a warehouse code back: the seed's "WH-007" is warehouse 7
// never renamed; a rename's "K-7.1234" is warehouse 7 renamed at rank 1234.
func parseCode(code string) (id int64, rank uint64, err error) {
	_, rest, ok := strings.Cut(code, "-")
	if !ok {
		return 0, 0, fmt.Errorf("warehouse code %q is none the test wrote", code)
	}
	idPart, rankPart, renamed := strings.Cut(rest, ".")
	if id, err = strconv.ParseInt(idPart, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("warehouse code %q: %w", code, err)
	}
	if renamed {
		if rank, err = strconv.ParseUint(rankPart, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("warehouse code %q: %w", code, err)
		}
	}
	return id, rank, nil
}

type rowKey struct{ p, w int64 }

// rankView is what completed reads of one node have shown, in version
// order: the newest state of every row and the newest rank of every
// warehouse's name. A read that started after a read showing a state
// completed must not show an older one.
//
// A row's state orders as the cache must: the row at rank r (2r), then its
// delete, which carries rank r too (2r+1), then the row re-inserted at a
// newer rank. A row missing from an answer is only known to be deleted in a
// warehouse that is never deactivated (stableWarehouses). The node then
// holds a delete at least as new as the state seen before the request
// (else it went back already), and every delete is one the writers
// committed: so it holds at least the first committed delete from that
// rank on, and a later answer showing the row at that rank or older
// brought a deleted row back.
type rankView struct {
	rd   *readers
	node string
	m    *model
	mu   sync.Mutex
	rows map[rowKey]uint64
	whs  map[int64]uint64
}

func (m *model) newView(rd *readers, node string) view {
	return &rankView{rd: rd, node: node, m: m, rows: map[rowKey]uint64{}, whs: map[int64]uint64{}}
}

func shownState(rank uint64) uint64 { return 2 * rank }

// deletedState is the least state a node that shows row k missing can be
// in, given the state floor seen before. A row the seed did not write that
// was never seen may just not be inserted yet: that tells nothing.
func (v *rankView) deletedState(k rowKey, floor uint64) uint64 {
	if floor == 0 && k.p > int64(v.m.seeded) {
		return 0
	}
	if d, ok := v.firstDelete(k, floor/2); ok {
		return max(floor, 2*d+1)
	}
	return floor | 1
}

// firstDelete returns the lowest rank at least from that a committed
// delete of row k carried.
func (v *rankView) firstDelete(k rowKey, from uint64) (uint64, bool) {
	if k.p > int64(v.m.products) {
		return 0, false // never written
	}
	return v.m.row(k.p, k.w).firstDeleteFrom(from)
}

func describeState(st uint64) string {
	if st&1 == 1 {
		return fmt.Sprintf("deleted at rank %d", st/2)
	}
	return fmt.Sprintf("rank %d", st/2)
}

type floors struct {
	rows map[rowKey]uint64
	whs  map[int64]uint64
}

func (v *rankView) floors(products []int64) floors {
	v.mu.Lock()
	defer v.mu.Unlock()
	f := floors{rows: map[rowKey]uint64{}, whs: map[int64]uint64{}}
	for w := int64(1); w <= int64(v.m.warehouses); w++ {
		f.whs[w] = v.whs[w]
		for _, p := range products {
			f.rows[rowKey{p, w}] = v.rows[rowKey{p, w}]
		}
	}
	return f
}

func (v *rankView) raise(rows map[rowKey]uint64, whs map[int64]uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, r := range rows {
		v.rows[k] = max(v.rows[k], r)
	}
	for k, r := range whs {
		v.whs[k] = max(v.whs[k], r)
	}
}

func (v *rankView) before(ids []int64) func([]answer) {
	f := v.floors(ids)
	return func(answers []answer) { v.raise(v.check(f, answers)) }
}

// check compares answers with the floors taken before the request, and
// returns the states they show.
func (v *rankView) check(f floors, answers []answer) (map[rowKey]uint64, map[int64]uint64) {
	rd, node := v.rd, v.node
	rows, whs := map[rowKey]uint64{}, map[int64]uint64{}
	for _, a := range answers {
		shown := map[int64]bool{}
		for _, l := range a.Warehouses {
			w, whRank, err := parseCode(l.Code)
			if err != nil || w < 1 || w > int64(rd.warehouses) {
				rd.stats.malformed.Add(1)
				rd.problem("%s: product %d: %v (%s)", node, a.ProductID, err, l.Code)
				continue
			}
			shown[w] = true
			k := rowKey{a.ProductID, w}
			st := shownState(rankOfQty(l.Qty))
			if fl := f.rows[k]; st < fl {
				rd.wentBack(backRow{node, k, fl, st}, fmt.Sprintf("%s: product %d warehouse %d went back from %s to %s", node, k.p, k.w, describeState(fl), describeState(st)))
			}
			if fl := f.whs[w]; whRank < fl {
				rd.stats.backwards.Add(1)
				rd.problem("%s: warehouse %d's name went back from rank %d to %d (%s)", node, w, fl, whRank, l.Code)
			}
			rows[k] = max(rows[k], st)
			whs[w] = max(whs[w], whRank)
		}
		for w := int64(1); w <= stableWarehouses; w++ {
			if k := (rowKey{a.ProductID, w}); !shown[w] {
				rows[k] = max(rows[k], v.deletedState(k, f.rows[k]))
			}
		}
	}
	return rows, whs
}

// readStats counts what the readers did and found.
type readStats struct {
	reads, unavailable, backwards, malformed atomic.Int64
}

const maxProblems = 30

// readers read every node over HTTP and check each answer against what
// earlier answers of the same node showed (a view of the node).
type readers struct {
	client     *http.Client
	products   int
	warehouses int
	stats      readStats
	mu         sync.Mutex
	problems   []string
	backRows   []backRow
}

func newReaders(products, warehouses int) *readers {
	return &readers{
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		},
		products: products, warehouses: warehouses,
	}
}

func (rd *readers) problem(format string, args ...any) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.problems) < maxProblems {
		rd.problems = append(rd.problems, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// backRow is a row a node showed going back: from the state seen before
// to the state shown (what a state is depends on the view).
type backRow struct {
	node     string
	k        rowKey
	from, to uint64
}

const maxBackRows = 8

// wentBack counts a read that showed row b.k go back, says why, and keeps
// the first rows for the report.
func (rd *readers) wentBack(b backRow, why string) {
	rd.stats.backwards.Add(1)
	rd.problem("%s", why)
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.backRows) < maxBackRows && !slices.ContainsFunc(rd.backRows, func(o backRow) bool { return o.k == b.k }) {
		rd.backRows = append(rd.backRows, b)
	}
}

func (rd *readers) report() string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return strings.Join(rd.problems, "\n")
}

// errUnavailable: the node did not answer (down, restarting, or failing
// fast with 503). Not a fault: readers try again.
var errUnavailable = rig.ErrUnavailable

// fetch sends one request and returns the answers it holds (404 becomes an
// answer without warehouses).
func (rd *readers) fetch(ctx context.Context, base string, ids []int64, style int) ([]answer, error) {
	return rig.Fetch(ctx, rd.client, base, ids, style)
}

// read runs one reader against one node until ctx ends.
func (rd *readers) read(ctx context.Context, node string, base string, v view, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	pick := func() int64 {
		// A few ids that never exist keep negative entries in play.
		if rng.IntN(50) == 0 {
			return int64(rd.products + 1 + rng.IntN(5))
		}
		if rng.IntN(2) == 0 {
			return int64(rng.IntN(max(1, rd.products/10)) + 1)
		}
		return int64(rng.IntN(rd.products) + 1)
	}
	for ctx.Err() == nil {
		ids := []int64{pick()}
		if rng.IntN(4) == 0 {
			for range 2 + rng.IntN(4) {
				if id := pick(); !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		check := v.before(ids)
		answers, err := rd.fetch(ctx, base, ids, rng.IntN(2))
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errUnavailable):
			rd.stats.unavailable.Add(1)
			time.Sleep(20 * time.Millisecond)
			continue
		case err != nil:
			rd.stats.malformed.Add(1)
			rd.problem("%s: %v", node, err)
			continue
		}
		rd.stats.reads.Add(1)
		for _, a := range answers {
			if !slices.IsSortedFunc(a.Warehouses, func(x, y line) int { return strings.Compare(x.Code, y.Code) }) {
				rd.stats.malformed.Add(1)
				rd.problem("%s: product %d: warehouses not ordered by code: %s", node, a.ProductID, a)
			}
		}
		check(answers)
	}
}
