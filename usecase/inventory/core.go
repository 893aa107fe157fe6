package inventory

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
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
	// Bootstrap: the cache is built from the change topics, read from
	// their start, before it is first used (see bootstrap.go). It holds
	// from construction on, so nothing that runs before the change feed
	// starts can take the cache for empty and fill it from the database.
	Bootstrap bool
	// TTL is the last-resort lifetime of an entry; TTLJitter (0..1) spreads
	// it so entries filled together expire apart.
	TTL       time.Duration
	TTLJitter float64
	// MarkerTTL is how long the newest change of each row is remembered to
	// correct fills that read older data.
	MarkerTTL time.Duration
	// StockOrder and WarehouseOrder order each table's changes: by its
	// version column, or by the binlog (domain.Order). Binlog order needs
	// a repository that reads replication positions.
	StockOrder, WarehouseOrder domain.Order
	// ImplicitWarehouses: there is no warehouses table; every warehouse is
	// active and its code is its id.
	ImplicitWarehouses bool
	// StaleIfError is how long, once the change feed cannot be trusted,
	// the entries held may still answer when the database cannot (0: not at
	// all; the cache is then flushed when the feed is lost). The model is
	// HTTP's stale-if-error (RFC 5861); see Reader.
	StaleIfError time.Duration
	// ReadAfterWait is how long a read bounded by a read-after token waits
	// for the change feed to apply it before going to the database.
	ReadAfterWait time.Duration
	// DBMaxInFlight bounds concurrent queries; DBQueueTimeout is how long a
	// read waits for a slot; DBQueryTimeout is each query's deadline.
	DBMaxInFlight  int
	DBQueueTimeout time.Duration
	DBQueryTimeout time.Duration
}

// core is the state the read path's three parts share: the entry store,
// the markers, the warehouse directory, and the two things that order fills
// against change events: the per-product locks (a fill and an event for one
// product never interleave) and the flush generation (a fill that straddles
// a flush stores nothing).
type core struct {
	cfg     Config
	repo    StockRepository
	store   EntryStore
	dir     *Directory
	locks   keylock.Locker
	marks   *markers
	reads   readSample
	guard   *dbGuard
	metrics Metrics
	log     *slog.Logger
	now     func() time.Time

	// usable is false while the cache cannot be trusted (change feed not
	// caught up, or away for too long): reads then bypass it, and answer
	// from it only when the database fails too (stale-if-error).
	usable atomic.Bool
	// held: the entries were kept when the feed was lost (StaleIfError),
	// for stale-if-error answers; they are dropped when it is live again.
	held atomic.Bool
	// feedSign returns when the change feed last gave a sign of life (nil:
	// no feed); stale answers say how long ago that was.
	feedSign atomic.Pointer[func() time.Time]
	// feedPos tells how far the feed has applied (nil: it cannot tell).
	feedPos atomic.Pointer[FeedPosition]
	// reloading: a background read of the warehouse table runs.
	reloading atomic.Bool
	// bypassed: a client's read went to the database while the cache was
	// not in use (bypassLoad).
	bypassed atomic.Bool
	// bootstrapping: events build the cache (see bootstrap.go);
	// abandoned: a bootstrap was interrupted.
	bootstrapping, abandoned atomic.Bool
	// generation grows at every flush; a fill that started in an older
	// generation does not store what it read. flushMu makes "check the
	// generation, then store" atomic against a flush.
	generation atomic.Uint64
	flushMu    sync.RWMutex

	entries sync.Pool
}

// ReadPath is the read path in three parts, each with one job, over one
// shared core:
//
//   - Reader answers reads from the cache and fills it from the database;
//   - Changes applies the change feed's events (and its fleet flush);
//   - Upkeep is the rest: readiness (ping, directory, usable), flushes and
//     the bypass the change-feed tracker decides, the consistency
//     inspector, prewarm, and sweeping expired markers.
type ReadPath struct {
	Reader  *Reader
	Changes *Changes
	Upkeep  *Upkeep
}

// Reader answers reads (see reader.go).
type Reader struct{ *core }

// Changes applies change events (see apply.go).
type Changes struct{ *core }

// Upkeep keeps the cache and tells its state (see upkeep.go).
type Upkeep struct{ *core }

// New builds the read path. store may be nil when the cache is off.
func New(cfg Config, repo StockRepository, store EntryStore, m Metrics, log *slog.Logger) *ReadPath {
	if m == nil {
		m = NopMetrics{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if store == nil {
		cfg.CacheEnabled = false
	}
	c := &core{
		cfg:     cfg,
		repo:    repo,
		store:   store,
		dir:     NewDirectory(cfg.WarehouseOrder, cfg.ImplicitWarehouses),
		marks:   newMarkers(cfg.MarkerTTL, cfg.StockOrder),
		guard:   newDBGuard(cfg.DBMaxInFlight, cfg.DBQueueTimeout, cfg.DBQueryTimeout, m),
		metrics: m,
		log:     log,
		now:     time.Now,
	}
	c.entries.New = func() any { return &Entry{Rows: make([]EntryRow, 0, 8)} }
	// A cache the topics are building is not used before it is complete.
	c.bootstrapping.Store(cfg.CacheEnabled && cfg.Bootstrap)
	c.usable.Store(cfg.CacheEnabled && !cfg.Bootstrap)
	return &ReadPath{Reader: &Reader{c}, Changes: &Changes{c}, Upkeep: &Upkeep{c}}
}

// warehouses reads the whole warehouse table and where the read stands
// (binlog order: the positions around it).
func (s *core) warehouses(ctx context.Context) ([]domain.Warehouse, domain.Span, error) {
	var ws []domain.Warehouse
	var sp domain.Span
	err := s.guard.do(ctx, "load warehouses", func(ctx context.Context) error {
		if !s.cfg.WarehouseOrder.Binlog {
			var err error
			ws, err = s.repo.Warehouses(ctx)
			return err
		}
		var okLo, okHi bool
		sp.Lo, okLo = s.position(ctx)
		var err error
		if ws, err = s.repo.Warehouses(ctx); err != nil {
			return err
		}
		if sp.Hi, okHi = s.position(ctx); !okLo || !okHi {
			return errors.New("replication position not read: the warehouse table cannot be placed in binlog order")
		}
		return nil
	})
	return ws, sp, err
}

// lookup reads a live entry into e. An expired one counts as a miss.
func (s *core) lookup(productID int64, e *Entry) bool {
	if !s.store.Get(productID, e) {
		return false
	}
	return e.ExpiresAt > s.now().UnixNano()
}

// fill turns rows into an entry in e, corrects it with what the change feed
// delivered meanwhile (markers), and caches it unless the cache was flushed
// while the query ran or the entry is uncertain. Callers hold the product's
// lock.
func (s *core) fill(productID int64, rows []domain.StockWithWarehouse, sp fillSpan, e *Entry, gen uint64) {
	if sp.placed {
		s.dir.ObserveRows(rows, sp.Span)
	}
	entryFromRows(e, s.cfg.StockOrder, rows, sp.Span)
	now := s.now()
	e.ExpiresAt = s.expiry(now)
	corrected, uncertain := s.marks.merge(now, productID, e)
	kept, behind := s.keepExpiredVersions(productID, e)
	corrected += kept
	uncertain = uncertain || behind || s.cfg.StockOrder.Binlog && !sp.placed
	if corrected > 0 || uncertain {
		s.metrics.StaleFillCorrected()
	}
	s.flushMu.RLock()
	defer s.flushMu.RUnlock()
	if uncertain || !s.usable.Load() || s.generation.Load() != gen {
		return
	}
	if err := s.store.Set(productID, e); err != nil {
		s.log.Warn("cache entry not stored", "product_id", productID, "err", err)
	}
}

// keepExpiredVersions lets a refill after expiry never answer an older
// version of a row than the expired entry held (a lagging replica would).
// Only rows the fresh read returned are taken: a row that vanished may have
// been deleted by an event this instance missed, and the TTL exists to
// repair exactly that. uncertain is true when the expired entry cannot be
// placed against the fresh read (binlog order: the two reads overlap, or a
// change it held may have committed while the fresh read ran): the refill
// may answer but is not cached. A change the entry held that cannot be
// placed is answered, as merge does with a marker: the read may not reflect
// it, and the entry may have answered it already.
func (s *core) keepExpiredVersions(productID int64, e *Entry) (kept int, uncertain bool) {
	prev := s.entries.Get().(*Entry)
	defer s.entries.Put(prev)
	if !s.store.Get(productID, prev) {
		return 0, false
	}
	o := s.cfg.StockOrder
	for _, r := range prev.Rows {
		if _, ok := e.find(r.WarehouseID); !ok {
			continue
		}
		if r.Read {
			// As the previous read had it: the fresh read must stand at or
			// after where that one did.
			if !covers(e.FillPos, prev.FillHi) {
				uncertain = true
			}
			continue
		}
		c := change{warehouseID: r.WarehouseID, qty: r.QtySalable, stamp: r.stamp(), deleted: r.Deleted}
		changed, unknown := e.apply(o, c)
		if unknown {
			e.set(c)
			changed, uncertain = true, true
		}
		if changed {
			kept++
		}
	}
	return kept, uncertain
}

// covers reports whether position p includes every transaction of q.
func covers(p, q domain.SourcePos) bool {
	for _, g := range q {
		if !p.Covers(g) {
			return false
		}
	}
	return true
}

func (s *core) expiry(now time.Time) int64 {
	ttl := s.cfg.TTL
	if j := s.cfg.TTLJitter; j > 0 {
		// Shorten by up to j of the TTL: never longer than configured.
		ttl -= time.Duration(rand.Float64() * j * float64(ttl))
	}
	return now.Add(ttl).UnixNano()
}

// view joins an entry with the warehouse directory, one snapshot of it
// throughout.
func (s *core) view(productID int64, e *Entry) (domain.ProductInventory, error) {
	st := s.dir.snapshot()
	var lines []domain.WarehouseStock
	for _, r := range e.Rows {
		if r.Deleted {
			continue
		}
		code, ok := s.dir.join(st, r.WarehouseID)
		if !ok {
			continue
		}
		if lines == nil {
			lines = make([]domain.WarehouseStock, 0, len(e.Rows))
		}
		lines = append(lines, domain.WarehouseStock{WarehouseCode: code, QtySalable: r.QtySalable})
	}
	inv, ok := domain.NewProductInventory(productID, lines)
	if !ok {
		return domain.ProductInventory{}, domain.NotFoundf("product %d not found", productID)
	}
	return inv, nil
}

// loadToFill reads rows to fill the cache with, and the database's
// replication position before them (see Entry.FillPos) and, in binlog
// order, after them: the read's span. A position that cannot be read is
// unknown: in version order fills are then as they were without it; in
// binlog order the read cannot be placed, and an event of any row it
// returned makes the entry uncertain.
func (s *core) loadToFill(ctx context.Context, ids []int64) (rows []domain.StockWithWarehouse, sp fillSpan, err error) {
	err = s.guard.do(ctx, "load stock", func(ctx context.Context) error {
		lo, okLo := s.position(ctx)
		var err error
		if rows, err = s.repo.StockByProducts(ctx, ids); err != nil {
			return err
		}
		sp = fillSpan{Span: domain.Span{Lo: lo}, placed: okLo}
		if s.cfg.StockOrder.Binlog || s.cfg.WarehouseOrder.Binlog {
			var okHi bool
			sp.Hi, okHi = s.position(ctx)
			sp.placed = okLo && okHi
		}
		return nil
	})
	return rows, sp, err
}

// fillSpan is a read's span; placed is false when a position could not be
// read (binlog order cannot then place the read, and nothing it read is
// cached).
type fillSpan struct {
	domain.Span
	placed bool
}

// position reads the database's replication position; ok is false when it
// cannot.
func (s *core) position(ctx context.Context) (domain.SourcePos, bool) {
	pos, err := s.repo.Position(ctx)
	if err != nil {
		s.log.Debug("replication position not read; filling without it", "err", err)
		return nil, false
	}
	return pos, true
}

// bypassLoad is load for a client while the cache is not in use. Noted
// before the query: what it shows of the warehouses may be newer than the
// directory, which must then be read again before the cache is used
// (refreshDirectory).
func (s *core) bypassLoad(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	s.bypassed.Store(true)
	return s.load(ctx, ids)
}

func (s *core) load(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
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

// fillMany fills, under their locks and with one query, the products of
// sorted (ascending: the one lock order that rules out deadlock) that are not
// cached yet. done sees each product's entry in e as it then stands: found
// in the cache (cached, filled meanwhile by someone else) or just filled.
func (s *core) fillMany(ctx context.Context, sorted []int64, e *Entry, done func(id int64, cached bool)) error {
	s.locks.LockAll(sorted)
	defer s.locks.UnlockAll(sorted)
	var need []int64
	for _, id := range sorted {
		if s.lookup(id, e) {
			done(id, true)
			continue
		}
		need = append(need, id)
	}
	if len(need) == 0 {
		return nil
	}
	gen := s.generation.Load()
	rows, sp, err := s.loadToFill(ctx, need)
	if err != nil {
		return err
	}
	byProduct := groupByProduct(rows)
	for _, id := range need {
		s.fill(id, byProduct[id], sp, e, gen)
		done(id, false)
	}
	return nil
}

// flush drops every entry and marker, and makes fills that are in flight
// forget what they read.
//
// The generation moves last. Readers load it without the lock, before
// they query: one that loads the new generation may cache its fill, so by
// then the markers must be forgotten and the store empty; a reader that
// loaded the old one, even midway through the flush, has its fill refused.
func (s *core) flush() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.bootstrapping.Swap(false) {
		// What the topics built so far is gone, and the feed goes on from
		// where it is, not from the topics' start: the cache fills from the
		// database from now on.
		s.abandoned.Store(true)
		s.log.Warn("cache bootstrap from the change topics interrupted by a flush (a gap in the feed, or the feed lost); the cache fills from the database from now on")
	}
	s.marks.forget()
	if s.store != nil {
		s.store.Reset()
	}
	s.reads.forget()
	s.generation.Add(1)
}
