package inventory

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// fakeRepo is an in-memory database with hooks to hold queries in flight.
type fakeRepo struct {
	mu         sync.Mutex
	stock      map[[2]int64]domain.StockRow
	warehouses map[int64]domain.Warehouse
	queries    int
	loads      map[int64]int // product id -> how many queries asked for it
	err        error
	// hold, when set, is called inside each stock query before it reads.
	hold func(ctx context.Context, ids []int64) error
	// beforeWarehouses and afterWarehouses, when set, are called in a read
	// of the warehouse table before and after it reads the rows.
	beforeWarehouses, afterWarehouses func()
	pos                               domain.SourcePos
}

func newFakeRepo() *fakeRepo {
	return &fakeRepo{stock: map[[2]int64]domain.StockRow{}, warehouses: map[int64]domain.Warehouse{}, loads: map[int64]int{}}
}

func (r *fakeRepo) putWarehouse(w domain.Warehouse) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warehouses[w.ID] = w
}

func (r *fakeRepo) putStock(s domain.StockRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stock[[2]int64{s.ProductID, s.WarehouseID}] = s
}

func (r *fakeRepo) deleteStock(p, w int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.stock, [2]int64{p, w})
}

func (r *fakeRepo) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeRepo) loadsOf(id int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads[id]
}

func (r *fakeRepo) queryCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries
}

func (r *fakeRepo) StockByProducts(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	r.mu.Lock()
	r.queries++
	for _, id := range ids {
		r.loads[id]++
	}
	hold, err := r.hold, r.err
	r.mu.Unlock()
	if hold != nil {
		if err := hold(ctx, ids); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []domain.StockWithWarehouse
	for _, s := range r.stock {
		if !slices.Contains(ids, s.ProductID) {
			continue
		}
		w, ok := r.warehouses[s.WarehouseID]
		out = append(out, domain.StockWithWarehouse{Stock: s, Warehouse: w, HasWarehouse: ok})
	}
	return out, nil
}

func (r *fakeRepo) Warehouses(ctx context.Context) ([]domain.Warehouse, error) {
	r.mu.Lock()
	before, after := r.beforeWarehouses, r.afterWarehouses
	r.mu.Unlock()
	if before != nil {
		before()
	}
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return nil, r.err
	}
	var out []domain.Warehouse
	for _, w := range r.warehouses {
		out = append(out, w)
	}
	r.mu.Unlock()
	if after != nil {
		after()
	}
	return out, nil
}

// Position is what setPosition left: the replication position reads see.
func (r *fakeRepo) Position(context.Context) (domain.SourcePos, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos, nil
}

func (r *fakeRepo) setPosition(p domain.SourcePos) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = p
}

func (r *fakeRepo) Ping(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// fakeStore is a map-backed EntryStore that copies entries in and out, as a
// serialising store would.
type fakeStore struct {
	mu      sync.Mutex
	m       map[int64]Entry
	scanned int64 // where Scan stopped
}

func newFakeStore() *fakeStore { return &fakeStore{m: map[int64]Entry{}} }

func (s *fakeStore) Get(id int64, dst *Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	if !ok {
		return false
	}
	dst.ExpiresAt = e.ExpiresAt
	dst.Rows = append(dst.Rows[:0], e.Rows...)
	dst.FillPos = append(dst.FillPos[:0], e.FillPos...)
	dst.FillHi = append(dst.FillHi[:0], e.FillHi...)
	return true
}

func (s *fakeStore) Set(id int64, e *Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = Entry{ExpiresAt: e.ExpiresAt, Rows: slices.Clone(e.Rows), FillPos: slices.Clone(e.FillPos), FillHi: slices.Clone(e.FillHi)}
	return nil
}

// Scan walks the ids in ascending order, going on from the last call.
func (s *fakeStore) Scan(n int) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.m))
	var out []int64
	for _, id := range ids {
		if id > s.scanned && len(out) < n {
			out = append(out, id)
		}
	}
	if len(out) < n {
		s.scanned = 0
		for _, id := range ids {
			if len(out) < n && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	if len(out) > 0 {
		s.scanned = out[len(out)-1]
	}
	return out
}

func (s *fakeStore) Delete(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func (s *fakeStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[int64]Entry{}
}

func (s *fakeStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// countingMetrics records what the service reports.
type countingMetrics struct {
	mu                                                      sync.Mutex
	hits, misses, coalesced, dbQueries, rejected, corrected int
	staleServed                                             int
	readAfter                                               map[string]int
}

func (m *countingMetrics) CacheHit()  { m.mu.Lock(); m.hits++; m.mu.Unlock() }
func (m *countingMetrics) CacheMiss() { m.mu.Lock(); m.misses++; m.mu.Unlock() }
func (m *countingMetrics) Coalesced() { m.mu.Lock(); m.coalesced++; m.mu.Unlock() }
func (m *countingMetrics) DBQuery(time.Duration, error) {
	m.mu.Lock()
	m.dbQueries++
	m.mu.Unlock()
}
func (m *countingMetrics) DBRejected() { m.mu.Lock(); m.rejected++; m.mu.Unlock() }
func (m *countingMetrics) StaleFillCorrected() {
	m.mu.Lock()
	m.corrected++
	m.mu.Unlock()
}
func (m *countingMetrics) StaleServed() { m.mu.Lock(); m.staleServed++; m.mu.Unlock() }
func (m *countingMetrics) ReadAfter(outcome string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readAfter == nil {
		m.readAfter = map[string]int{}
	}
	m.readAfter[outcome]++
}

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (r *fakeRepo) ProductIDsAfter(ctx context.Context, after int64, limit int) ([]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int64]bool{}
	var ids []int64
	for k := range r.stock {
		if k[0] > after && !seen[k[0]] {
			seen[k[0]] = true
			ids = append(ids, k[0])
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// testService is the read path's three parts together, as the tests drive
// them; core is embedded directly too, so tests reach its fields (now, hot)
// without ambiguity.
type testService struct {
	*core
	*Reader
	*Changes
	*Upkeep
}

func newService(cfg Config, repo StockRepository, store EntryStore, m Metrics, log *slog.Logger) *testService {
	rp := New(cfg, repo, store, m, log)
	return &testService{core: rp.Reader.core, Reader: rp.Reader, Changes: rp.Changes, Upkeep: rp.Upkeep}
}
