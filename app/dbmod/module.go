// Package dbmod opens the database and provides the repository.
package dbmod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
)

// Module provides *gorm.DB and *gormrepo.Repository; the repository needs
// a config.Schema (config.DefaultSchema for gintoki's own tables).
var Module = fx.Module("database",
	fx.Provide(open, newRepository),
)

// Params are the database's inputs; Cache is there for a read node only.
type Params struct {
	fx.In
	LC    fx.Lifecycle
	DB    config.DB
	Cache config.Cache `optional:"true"`
	TP    trace.TracerProvider
	Log   *slog.Logger
}

func open(p Params) (*gorm.DB, error) {
	cfg, log := p.DB, p.Log
	dsn, err := database.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := []database.Option{database.WithLogger(log, 200*time.Millisecond)}
	if p.Cache.FromTopics() {
		// Starting from the change topics: not a query, not even a
		// connection, until the node is up (see readmod).
		opts = append(opts, database.Lazy())
	}
	db, err := database.Open(ctx, dsn, database.PoolConfig{MaxOpen: cfg.MaxOpen, MaxIdle: cfg.MaxOpen}, p.TP, opts...)
	if err != nil {
		return nil, withHint(fmt.Errorf("open database %s: %w", dsn.Where(), rootOf(err)), database.Explain(dsn, err))
	}
	log.Info("database opened", "db", dsn.Redacted(), "lazily", p.Cache.FromTopics())
	lc := p.LC
	lc.Append(fx.StopHook(func() error { return database.Close(db) }))
	return db, nil
}

type repoParams struct {
	fx.In
	DB     *gorm.DB
	TP     trace.TracerProvider
	Schema config.Schema
	Cache  config.Cache `optional:"true"`
	Log    *slog.Logger
}

// newRepository checks the schema mapping against the database before
// anything reads through it: a mapping that cannot work stops the process
// at start with the reason, instead of failing reads later.
//
// A node starting from the change topics checks it later, once started
// (readmod): it must not query the database to start.
func newRepository(p repoParams) (*gormrepo.Repository, error) {
	db, tp, sc, log := p.DB, p.TP, p.Schema, p.Log
	if p.Cache.FromTopics() {
		return gormrepo.NewMapped(db, tp, sc.Mapping)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gormrepo.CheckMapping(ctx, db, sc.Mapping); err != nil {
		return nil, err
	}
	if sc.Mapped() {
		log.Info("schema mapping checked", "file", sc.File, "tables", sc.Mapping.Tables(),
			"salable", sc.Mapping.Stock.Salable.String(), "binlog_order", sc.Mapping.NeedsPositions())
	}
	return gormrepo.NewMapped(db, tp, sc.Mapping)
}

// rootOf is the innermost error: the driver's own words, without the layers
// that repeat the address.
func rootOf(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// withHint adds what to check to err, keeping it matchable.
func withHint(err error, hint string) error {
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, hint)
}
