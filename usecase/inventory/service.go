package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/keylock"
)

// Config tunes the read path.
type Config struct {
	// CacheEnabled false serves every read straight from the database.
	CacheEnabled bool
	// TTL is the last-resort lifetime of an entry; TTLJitter (0..1) spreads
	// it so entries filled together expire apart.
	TTL       time.Duration
	TTLJitter float64
	// MarkerTTL is how long the newest change of each row is remembered to
	// correct fills that read older data.
	MarkerTTL time.Duration
	// HotEntries bounds the finished answers kept in front of the store
	// (0: none); a read of a hot product then allocates nothing.
	HotEntries int
	// DBMaxInFlight bounds concurrent queries; DBQueueTimeout is how long a
	// read waits for a slot; DBQueryTimeout is each query's deadline.
	DBMaxInFlight  int
	DBQueueTimeout time.Duration
	DBQueryTimeout time.Duration
}

// Service answers reads from the cache and fills it from the database.
// It is also where change events land (see apply.go): both sides take the
// same per-product locks, which is what keeps a fill and an event for one
// product from interleaving.
type Service struct {
	cfg     Config
	repo    StockRepository
	store   EntryStore
	dir     *Directory
	locks   keylock.Locker
	marks   *markers
	hot     *hotSet // nil when off
	guard   *dbGuard
	metrics Metrics
	log     *slog.Logger
	now     func() time.Time

	// usable is false while the cache cannot be trusted (change feed not
	// caught up, or away for too long): reads then bypass it entirely.
	usable atomic.Bool
	// generation grows at every flush; a fill that started in an older
	// generation does not store what it read. flushMu makes "check the
	// generation, then store" atomic against a flush.
	generation atomic.Uint64
	flushMu    sync.RWMutex

	entries sync.Pool
}

// NewService builds the read path. store may be nil when the cache is off.
func NewService(cfg Config, repo StockRepository, store EntryStore, m Metrics, log *slog.Logger) *Service {
	if m == nil {
		m = NopMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if store == nil {
		cfg.CacheEnabled = false
	}
	s := &Service{
		cfg:     cfg,
		repo:    repo,
		store:   store,
		dir:     NewDirectory(),
		marks:   newMarkers(cfg.MarkerTTL),
		guard:   newDBGuard(cfg.DBMaxInFlight, cfg.DBQueueTimeout, cfg.DBQueryTimeout, m),
		metrics: m,
		log:     log,
		now:     time.Now,
	}
	if cfg.CacheEnabled {
		s.hot = newHotSet(cfg.HotEntries)
	}
	s.entries.New = func() any { return &Entry{Rows: make([]EntryRow, 0, 8)} }
	s.usable.Store(cfg.CacheEnabled)
	return s
}

// Directory exposes the warehouse directory (the change feed updates it).
func (s *Service) Directory() *Directory { return s.dir }

// CacheEnabled reports whether the service was built with a cache.
func (s *Service) CacheEnabled() bool { return s.cfg.CacheEnabled }

// CacheUsable reports whether reads currently use the cache.
func (s *Service) CacheUsable() bool { return s.usable.Load() }

// LoadDirectory reads the whole warehouse table into the directory.
func (s *Service) LoadDirectory(ctx context.Context) error {
	ws, err := s.warehouses(ctx)
	if err != nil {
		return fmt.Errorf("load warehouse directory: %w", err)
	}
	s.dir.Load(ws)
	return nil
}

func (s *Service) warehouses(ctx context.Context) ([]domain.Warehouse, error) {
	var ws []domain.Warehouse
	err := s.guard.do(ctx, "load warehouses", func(ctx context.Context) error {
		var err error
		ws, err = s.repo.Warehouses(ctx)
		return err
	})
	return ws, err
}

// Ping checks that the database answers within the query deadline. It
// skips the read path's slots and metrics: readiness probes must neither
// wait behind reads nor count as reads.
func (s *Service) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DBQueryTimeout)
	defer cancel()
	return s.repo.Ping(ctx)
}

// GetProductInventory answers one product.
func (s *Service) GetProductInventory(ctx context.Context, productID int64) (domain.ProductInventory, error) {
	if err := domain.ValidateProductID(productID); err != nil {
		return domain.ProductInventory{}, err
	}
	if !s.usable.Load() {
		return s.fromDatabase(ctx, productID)
	}
	if inv, ok := s.hotGet(productID); ok {
		s.metrics.CacheHit()
		return inv, nil
	}
	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	if inv, err, ok := s.cached(productID, e); ok {
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
	rows, pos, err := s.loadToFill(ctx, []int64{productID})
	if err != nil {
		return domain.ProductInventory{}, err
	}
	s.fill(productID, rows, pos, e, gen)
	return s.view(productID, e)
}

// BatchGetProductInventory answers many products; misses are loaded with one
// query, under the same per-product locks single reads take.
func (s *Service) BatchGetProductInventory(ctx context.Context, productIDs []int64) (domain.BatchResult, error) {
	if err := domain.ValidateBatch(productIDs); err != nil {
		return domain.BatchResult{}, err
	}
	ids := uniqueInOrder(productIDs)
	answers := make([]answer, len(ids))

	var misses []int64
	if s.usable.Load() {
		e := s.entries.Get().(*Entry)
		for i, id := range ids {
			if inv, ok := s.hotGet(id); ok {
				s.metrics.CacheHit()
				answers[i] = answer{inv: inv, found: true}
				continue
			}
			if inv, err, ok := s.cached(id, e); ok {
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
				return domain.BatchResult{}, err
			}
		}
	} else {
		rows, err := s.load(ctx, ids)
		if err != nil {
			return domain.BatchResult{}, err
		}
		byProduct := groupByProduct(rows)
		for i, id := range ids {
			inv, ok := domain.InventoryFromJoined(id, byProduct[id])
			answers[i] = answer{inv: inv, found: ok}
		}
	}

	res := domain.BatchResult{Found: make([]domain.ProductInventory, 0, len(ids))}
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
func (s *Service) fillMisses(ctx context.Context, misses, ids []int64, answers []answer) error {
	sorted := slices.Clone(misses)
	slices.Sort(sorted)
	s.locks.LockAll(sorted)
	defer s.locks.UnlockAll(sorted)

	e := s.entries.Get().(*Entry)
	defer s.entries.Put(e)
	index := make(map[int64]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	var need []int64
	for _, id := range sorted {
		if s.lookup(id, e) {
			s.metrics.Coalesced()
			answers[index[id]] = s.answerFrom(id, e)
			continue
		}
		need = append(need, id)
	}
	if len(need) == 0 {
		return nil
	}
	gen := s.generation.Load()
	rows, pos, err := s.loadToFill(ctx, need)
	if err != nil {
		return err
	}
	byProduct := groupByProduct(rows)
	for _, id := range need {
		s.fill(id, byProduct[id], pos, e, gen)
		answers[index[id]] = s.answerFrom(id, e)
	}
	return nil
}

func (s *Service) answerFrom(id int64, e *Entry) answer {
	inv, err := s.view(id, e)
	return answer{inv: inv, found: err == nil}
}

// hotGet answers from the hot set.
func (s *Service) hotGet(productID int64) (domain.ProductInventory, bool) {
	if s.hot == nil {
		return domain.ProductInventory{}, false
	}
	return s.hot.get(productID, s.now().UnixNano(), s.dir.snapshot().gen)
}

// cached answers from a live store entry (read into e) and offers a found
// answer to the hot set; ok is false on a miss.
func (s *Service) cached(productID int64, e *Entry) (inv domain.ProductInventory, err error, ok bool) {
	var seq uint64
	if s.hot != nil {
		seq = s.hot.begin(productID)
	}
	if !s.lookup(productID, e) {
		return domain.ProductInventory{}, nil, false
	}
	st := s.dir.snapshot()
	inv, err = s.viewWith(st, productID, e)
	if err == nil && s.hot != nil {
		s.hot.offer(productID, seq, &hotAnswer{inv: inv, expires: e.ExpiresAt, dirGen: st.gen})
	}
	return inv, err, true
}

// storeSet and storeDelete write the store and keep the hot set from
// holding anything older. Callers hold the product's lock.
func (s *Service) storeSet(productID int64, e *Entry) error {
	if s.hot != nil {
		s.hot.invalidate(productID)
		defer s.hot.invalidate(productID)
	}
	return s.store.Set(productID, e)
}

func (s *Service) storeDelete(productID int64) {
	if s.hot != nil {
		s.hot.invalidate(productID)
		defer s.hot.invalidate(productID)
	}
	s.store.Delete(productID)
}

// lookup reads a live entry into e. An expired one counts as a miss.
func (s *Service) lookup(productID int64, e *Entry) bool {
	if !s.store.Get(productID, e) {
		return false
	}
	return e.ExpiresAt > s.now().UnixNano()
}

// fill turns rows into an entry in e, corrects it with what the change feed
// delivered meanwhile (markers), and caches it unless the cache was flushed
// while the query ran. Callers hold the product's lock.
func (s *Service) fill(productID int64, rows []domain.StockWithWarehouse, pos domain.SourcePos, e *Entry, gen uint64) {
	for _, r := range rows {
		if r.HasWarehouse {
			s.dir.Observe(r.Warehouse)
		}
	}
	entryFromRows(e, rows, pos)
	now := s.now()
	e.ExpiresAt = s.expiry(now)
	corrected, uncertain := s.marks.merge(now, productID, e, pos)
	corrected += s.keepExpiredVersions(productID, e)
	if corrected > 0 || uncertain {
		s.metrics.StaleFillCorrected()
	}
	s.flushMu.RLock()
	defer s.flushMu.RUnlock()
	if uncertain || !s.usable.Load() || s.generation.Load() != gen {
		return
	}
	if err := s.storeSet(productID, e); err != nil {
		s.log.Warn("cache entry not stored", "product_id", productID, "err", err)
	}
}

// keepExpiredVersions lets a refill after expiry never answer an older
// version of a row than the expired entry held (a lagging replica would).
// Only rows the fresh read returned are taken: a row that vanished may have
// been deleted by an event this instance missed, and the TTL exists to
// repair exactly that.
func (s *Service) keepExpiredVersions(productID int64, e *Entry) int {
	prev := s.entries.Get().(*Entry)
	defer s.entries.Put(prev)
	if !s.store.Get(productID, prev) {
		return 0
	}
	n := 0
	for _, r := range prev.Rows {
		if _, ok := e.find(r.WarehouseID); ok && e.apply(r.WarehouseID, r.QtySalable, r.Version, r.Deleted) {
			n++
		}
	}
	return n
}

func (s *Service) expiry(now time.Time) int64 {
	ttl := s.cfg.TTL
	if j := s.cfg.TTLJitter; j > 0 {
		// Shorten by up to j of the TTL: never longer than configured.
		ttl -= time.Duration(rand.Float64() * j * float64(ttl))
	}
	return now.Add(ttl).UnixNano()
}

// view joins an entry with the warehouse directory.
func (s *Service) view(productID int64, e *Entry) (domain.ProductInventory, error) {
	return s.viewWith(s.dir.snapshot(), productID, e)
}

func (s *Service) viewWith(st *directoryState, productID int64, e *Entry) (domain.ProductInventory, error) {
	var lines []domain.WarehouseStock
	for _, r := range e.Rows {
		if r.Deleted {
			continue
		}
		w, ok := st.lookup(r.WarehouseID)
		if !ok || !w.Active {
			continue
		}
		if lines == nil {
			lines = make([]domain.WarehouseStock, 0, len(e.Rows))
		}
		lines = append(lines, domain.WarehouseStock{WarehouseCode: w.Code, QtySalable: r.QtySalable})
	}
	inv, ok := domain.NewProductInventory(productID, lines)
	if !ok {
		return domain.ProductInventory{}, domain.NotFoundf("product %d not found", productID)
	}
	return inv, nil
}

// fromDatabase answers without the cache: one query, joined in the database.
func (s *Service) fromDatabase(ctx context.Context, productID int64) (domain.ProductInventory, error) {
	rows, err := s.load(ctx, []int64{productID})
	if err != nil {
		return domain.ProductInventory{}, err
	}
	inv, ok := domain.InventoryFromJoined(productID, rows)
	if !ok {
		return domain.ProductInventory{}, domain.NotFoundf("product %d not found", productID)
	}
	return inv, nil
}

// loadToFill reads rows to fill the cache with, and before them the
// database's replication position (see Entry.FillPos). A position that
// cannot be read leaves it unknown: fills are then as they were without.
func (s *Service) loadToFill(ctx context.Context, ids []int64) (rows []domain.StockWithWarehouse, pos domain.SourcePos, err error) {
	err = s.guard.do(ctx, "load stock", func(ctx context.Context) error {
		var perr error
		if pos, perr = s.repo.Position(ctx); perr != nil {
			s.log.Debug("replication position not read; filling without it", "err", perr)
			pos = nil
		}
		var err error
		rows, err = s.repo.StockByProducts(ctx, ids)
		return err
	})
	return rows, pos, err
}

func (s *Service) load(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	var rows []domain.StockWithWarehouse
	err := s.guard.do(ctx, "load stock", func(ctx context.Context) error {
		var err error
		rows, err = s.repo.StockByProducts(ctx, ids)
		return err
	})
	return rows, err
}

func groupByProduct(rows []domain.StockWithWarehouse) map[int64][]domain.StockWithWarehouse {
	m := make(map[int64][]domain.StockWithWarehouse)
	for _, r := range rows {
		m[r.Stock.ProductID] = append(m[r.Stock.ProductID], r)
	}
	return m
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
