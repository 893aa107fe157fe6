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

// Module provides *gorm.DB and *gormrepo.Repository.
var Module = fx.Module("database",
	fx.Provide(open, gormrepo.New),
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
