// Package dbmod opens the database and provides the repository.
package dbmod

import (
	"context"
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

func open(lc fx.Lifecycle, cfg config.DB, tp trace.TracerProvider, log *slog.Logger) (*gorm.DB, error) {
	dsn, err := database.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := database.Open(ctx, dsn, database.PoolConfig{MaxOpen: cfg.MaxOpen, MaxIdle: cfg.MaxOpen}, tp, database.WithLogger(log, 200*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dsn.Redacted(), err)
	}
	log.Info("database opened", "db", dsn.Redacted())
	lc.Append(fx.StopHook(func() error { return database.Close(db) }))
	return db, nil
}

// newRepository checks the schema mapping against the database before
// anything reads through it: a mapping that cannot work stops the process
// at start with the reason, instead of failing reads later.
func newRepository(db *gorm.DB, tp trace.TracerProvider, sc config.Schema, log *slog.Logger) (*gormrepo.Repository, error) {
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
