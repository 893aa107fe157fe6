// Package readmod wires the read path (cache + service) and its lifecycle.
package readmod

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/pace"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// Module provides the read path's parts (*inventory.Reader, *inventory.Changes,
// *inventory.Upkeep) and *readiness.Checker. Other modules
// add readiness conditions to the "readiness" value group.
var Module = fx.Module("readpath",
	fx.Provide(
		provideReadPath,
		func(rp *inventory.ReadPath) *inventory.Reader { return rp.Reader },
		func(rp *inventory.ReadPath) *inventory.Changes { return rp.Changes },
		func(rp *inventory.ReadPath) *inventory.Upkeep { return rp.Upkeep },
		fx.Annotate(newChecker, fx.ParamTags(``, ``, ``, `group:"readiness"`)),
	),
)

func provideReadPath(lc fx.Lifecycle, p Params) (*inventory.ReadPath, *backgroundJobs, error) {
	rp, cleanup, err := newReadPath(p.Cache, p.DB, p.Schema, p.Repo, p.Registerer, p.Log)
	if err != nil {
		return nil, nil, err
	}
	svc := rp.Upkeep
	loader := newBackgroundJobs(svc, p.Log, p.Cache, p.Repo)
	if p.Cache.FromTopics() {
		loader.checkMapping = p.Repo.CheckMapping
	}
	if err := telemetry.GaugeFunc(p.Registerer, "gintoki_cache_bypassed",
		"1 while reads bypass the cache and go to the database (the change feed not live: starting, catching up, or stale), else 0.",
		func() float64 {
			if svc.CacheEnabled() && !svc.CacheUsable() {
				return 1
			}
			return 0
		}); err != nil {
		return nil, nil, err
	}
	if svc.CacheEnabled() && p.Cache.InspectInterval > 0 {
		m, err := telemetry.NewInspectorMetrics(p.Registerer)
		if err != nil {
			return nil, nil, err
		}
		loader.inspector = m
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { loader.start(); return nil },
		OnStop: func(context.Context) error {
			loader.stop()
			cleanup()
			return nil
		},
	})
	if !svc.CacheEnabled() {
		p.Log.Info("cache disabled: every read queries the database")
	}
	return rp, loader, nil
}

// newChecker applies the readiness policy (see usecase/readiness): the
// start gap is the directory, the change feed caught up once (the
// "readiness" group) and the prewarm; after it the node is ready while its
// cache (in use, or held for stale-if-error) or its database can answer.
func newChecker(svc *inventory.Upkeep, cache config.Cache, jobs *backgroundJobs, conds []readiness.Condition, reg prometheus.Registerer) (*readiness.Checker, error) {
	startup := append([]readiness.Condition{func() error {
		if !svc.Directory().Loaded() {
			return errors.New("warehouse directory not loaded yet")
		}
		return nil
	}}, conds...)
	if svc.CacheEnabled() && cache.Prewarm != 0 {
		startup = append(startup, func() error {
			if !jobs.prewarmed.Load() {
				return errors.New("cache prewarm not finished")
			}
			return nil
		})
	}
	c := readiness.New(svc, 2*time.Second, svc.CanAnswer, startup...)
	c.Watch(func(ready bool) {
		if ready {
			jobs.nodeReady()
		}
	})
	err := telemetry.GaugeFunc(reg, "gintoki_ready", "1 when the instance takes traffic (/readyz answers 200), else 0.",
		func() float64 {
			if c.Ready(telemetry.Untraced(context.Background())) == nil {
				return 1
			}
			return 0
		})
	return c, err
}

// mappingCheckDelay is how long after a node started from the change
// topics is first ready that it checks its schema mapping against the
// database (see checkMappingOnceReady).
const mappingCheckDelay = 5 * time.Second

// backgroundJobs are the read path's chores: load the warehouse directory
// at start (retrying, so a database that is briefly away does not fail the
// start), prewarm, run the consistency inspector, sweep expired markers,
// and, for a node started from the change topics, check the schema mapping
// once it is up.
type backgroundJobs struct {
	svc   *inventory.Upkeep
	log   *slog.Logger
	cache config.Cache
	pager inventory.ProductPager
	// inspector is nil when the consistency inspector is off.
	inspector *telemetry.InspectorMetrics
	// checkMapping, when set, checks the schema mapping mappingDelay after
	// the node is first ready (a node starting from the change topics
	// does not query the database to start).
	checkMapping func(context.Context) error
	mappingDelay time.Duration
	// ready is closed when the node is first ready (nodeReady).
	ready     chan struct{}
	readyOnce sync.Once
	// prewarmed: the prewarm is over (done, failed, or not asked for).
	prewarmed atomic.Bool
	cancel    context.CancelFunc
	done      chan struct{}
	// side is the schema mapping check, which runs beside the rest.
	side sync.WaitGroup
}

func newBackgroundJobs(svc *inventory.Upkeep, log *slog.Logger, cache config.Cache, pager inventory.ProductPager) *backgroundJobs {
	return &backgroundJobs{svc: svc, log: log, cache: cache, pager: pager, mappingDelay: mappingCheckDelay,
		ready: make(chan struct{}), done: make(chan struct{})}
}

// nodeReady records that the node is ready (the readiness checker's first
// ready verdict). It is called under the checker's lock: it only closes a
// channel.
func (l *backgroundJobs) nodeReady() { l.readyOnce.Do(func() { close(l.ready) }) }

func (l *backgroundJobs) start() {
	ctx, cancel := context.WithCancel(telemetry.Untraced(context.Background()))
	l.cancel = cancel
	go func() {
		defer close(l.done)
		if l.cache.FromTopics() {
			if !l.awaitBootstrap(ctx) {
				return
			}
			if l.checkMapping != nil {
				l.side.Go(func() { l.checkMappingOnceReady(ctx) })
			}
		}
		if !l.svc.Directory().Loaded() && !l.loadDirectory(ctx) {
			return
		}
		if l.cache.Enabled && l.cache.Prewarm != 0 {
			l.prewarm(ctx)
		}
		l.prewarmed.Store(true)
		if l.inspector != nil {
			go l.inspect(ctx)
		}
		// Markers outlive their use only briefly; sweeping keeps products
		// never read again from pinning memory.
		pace.Every(ctx, 30*time.Second, func() bool { l.svc.SweepMarkers(); return true })
	}()
}

// loadDirectory reads the warehouse directory from the database, retrying,
// so a database that is briefly away does not fail the start; false when
// ctx ended first.
func (l *backgroundJobs) loadDirectory(ctx context.Context) bool {
	wait := pace.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := l.svc.LoadDirectory(ctx)
		if err == nil {
			l.log.Info("warehouse directory loaded", "warehouses", l.svc.Directory().Len())
			return true
		}
		d := wait.Next()
		l.log.Warn("warehouse directory not loaded; retrying", "err", err, "retry_in", d)
		if !pace.Sleep(ctx, d) {
			return false
		}
	}
}

// awaitBootstrap waits for the bootstrap from the change topics to end;
// false when ctx ended first.
func (l *backgroundJobs) awaitBootstrap(ctx context.Context) bool {
	if !pace.Until(ctx, 100*time.Millisecond, func() bool { return !l.svc.Bootstrapping() }) {
		return false
	}
	if l.svc.BootstrapAbandoned() {
		l.log.Warn("cache bootstrap from the change topics abandoned; reading the warehouse directory from the database")
	} else {
		l.log.Info("cache bootstrapped from the change topics", "warehouses", l.svc.Directory().Len())
	}
	return true
}

// checkMappingOnceReady checks the schema mapping against the database
// mappingDelay after the node is first ready, retrying while the database
// cannot be reached. A node started from the change topics cannot check it
// at start: it becomes ready without a query, with the database down too,
// and a check at the moment it turns ready would race the probe that sees
// it ready. A mapping that does not fit is logged as an error, and the
// node goes on: its cache, built from the topics through the same mapping,
// answers right, and only the reads that need the database fail. Stopping
// it would take down, one after the other and after their rollout had
// passed their readiness checks, nodes that answer.
func (l *backgroundJobs) checkMappingOnceReady(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-l.ready:
	}
	if !pace.Sleep(ctx, l.mappingDelay) {
		return
	}
	wait := pace.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := l.checkMapping(ctx)
		var mismatch *gormrepo.MismatchError
		switch {
		case err == nil:
			l.log.Info("schema mapping checked against the database")
			return
		case errors.As(err, &mismatch):
			l.log.Error("schema mapping does not fit the database: reads the cache cannot answer fail until the mapping or the database is fixed; the cache built from the change topics still answers", "err", err)
			return
		case ctx.Err() != nil:
			return
		}
		d := wait.Next()
		l.log.Debug("schema mapping not checked yet: database not reachable", "err", err, "retry_in", d)
		if !pace.Sleep(ctx, d) {
			return
		}
	}
}

// prewarm waits until the cache is usable (the change feed positioned and
// caught up), then loads products in pages.
func (l *backgroundJobs) prewarm(ctx context.Context) {
	if !pace.Until(ctx, 100*time.Millisecond, l.svc.CacheUsable) {
		return
	}
	limit := max(l.cache.Prewarm, 0) // -1 means all, which Prewarm spells 0
	l.log.Info("cache prewarm starting", "products", l.cache.Prewarm, "page", l.cache.PrewarmPage)
	st, err := l.svc.Prewarm(ctx, l.pager, limit, l.cache.PrewarmPage)
	if err != nil {
		l.log.Warn("cache prewarm stopped; the rest fills on demand", "err", err, "products", st.Products)
		return
	}
	l.log.Info("cache prewarmed", "products", st.Products, "pages", st.Pages, "took", st.Elapsed.Round(time.Millisecond).String())
}

// inspect runs the consistency inspector every --inspect-interval.
func (l *backgroundJobs) inspect(ctx context.Context) {
	pace.Every(ctx, l.cache.InspectInterval, func() bool {
		st, err := l.svc.Inspect(ctx, l.cache.InspectSample, l.cache.InspectScan, l.cache.InspectLagWindow)
		l.inspector.Checked.Add(float64(st.Checked))
		for d, ids := range st.Stale {
			l.inspector.Stale.WithLabelValues(d.String()).Add(float64(len(ids)))
		}
		if err != nil && ctx.Err() == nil {
			l.log.Warn("consistency inspector round failed", "err", err)
		}
		return true
	})
}

func (l *backgroundJobs) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.side.Wait()
	}
}
