// Package readmod wires the read path (cache + service) and its lifecycle.
package readmod

import (
	"context"
	"errors"
	"log/slog"
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
		loader.stopApp = func() { _ = p.Shutdowner.Shutdown(fx.ExitCode(1)) }
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
	err := telemetry.GaugeFunc(reg, "gintoki_ready", "1 when the instance takes traffic (/readyz answers 200), else 0.",
		func() float64 {
			if c.Ready(telemetry.Untraced(context.Background())) == nil {
				return 1
			}
			return 0
		})
	return c, err
}

// backgroundJobs are the read path's chores: load the warehouse directory
// at start (retrying, so a database that is briefly away does not fail the
// start), prewarm, run the consistency inspector, sweep expired markers.
type backgroundJobs struct {
	svc   *inventory.Upkeep
	log   *slog.Logger
	cache config.Cache
	pager inventory.ProductPager
	// inspector is nil when the consistency inspector is off.
	inspector *telemetry.InspectorMetrics
	// checkMapping, when set, checks the schema mapping once the node is up
	// (a node starting from the change topics does not query the database
	// to start); a mapping that does not fit stops the node (stopApp).
	checkMapping func(context.Context) error
	stopApp      func()
	// prewarmed: the prewarm is over (done, failed, or not asked for).
	prewarmed atomic.Bool
	cancel    context.CancelFunc
	done      chan struct{}
}

func newBackgroundJobs(svc *inventory.Upkeep, log *slog.Logger, cache config.Cache, pager inventory.ProductPager) *backgroundJobs {
	return &backgroundJobs{svc: svc, log: log, cache: cache, pager: pager, done: make(chan struct{})}
}

func (l *backgroundJobs) start() {
	ctx, cancel := context.WithCancel(telemetry.Untraced(context.Background()))
	l.cancel = cancel
	go func() {
		defer close(l.done)
		if l.cache.FromTopics() && !l.afterBootstrap(ctx) {
			return
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

// afterBootstrap waits for the bootstrap from the change topics to end,
// then checks the schema mapping against the database, once it answers;
// false when ctx ended first or the mapping does not fit.
func (l *backgroundJobs) afterBootstrap(ctx context.Context) bool {
	if !pace.Until(ctx, 100*time.Millisecond, func() bool { return !l.svc.Bootstrapping() }) {
		return false
	}
	if l.svc.BootstrapAbandoned() {
		l.log.Warn("cache bootstrap from the change topics abandoned; reading the warehouse directory from the database")
	} else {
		l.log.Info("cache bootstrapped from the change topics", "warehouses", l.svc.Directory().Len())
	}
	if l.checkMapping == nil {
		return true
	}
	wait := pace.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := l.checkMapping(ctx)
		var mismatch *gormrepo.MismatchError
		switch {
		case err == nil:
			return true
		case errors.As(err, &mismatch):
			l.log.Error("schema mapping does not fit the database; stopping", "err", err)
			l.stopApp()
			return false
		}
		d := wait.Next()
		l.log.Debug("schema mapping not checked yet: database not reachable", "err", err, "retry_in", d)
		if !pace.Sleep(ctx, d) {
			return false
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
	}
}
