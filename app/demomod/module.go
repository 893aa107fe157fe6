// Package demomod prepares the embedded default: an SQLite file, created,
// migrated and seeded on first start, so the read node runs with no outside
// service.
package demomod

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/fx"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database"
)

// Config sizes the demo data.
type Config struct {
	DBPath     string
	Products   int
	Warehouses int
}

// EnsureDir creates the folder of the demo file; it runs before the
// database opens.
func EnsureDir(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create demo data folder %s: %w", dir, err)
		}
	}
	return nil
}

// Module seeds the demo database when it holds no stock yet.
var Module = fx.Module("demo",
	fx.Invoke(func(db *gorm.DB, cfg Config, log *slog.Logger) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := database.Migrate(ctx, db); err != nil {
			return fmt.Errorf("demo: migrate: %w", err)
		}
		var n int64
		if err := db.WithContext(ctx).Table("stock_items").Count(&n).Error; err != nil {
			return fmt.Errorf("demo: count stock rows: %w", err)
		}
		if n > 0 {
			log.Info("demo database ready", "path", cfg.DBPath, "stock_rows", n)
			return nil
		}
		start := time.Now()
		log.Info("seeding demo database (first start only)", "path", cfg.DBPath, "products", cfg.Products, "warehouses", cfg.Warehouses)
		if _, err := database.Seed(ctx, db, cfg.Products, cfg.Warehouses); err != nil {
			return fmt.Errorf("demo: seed: %w", err)
		}
		log.Info("demo database seeded", "took", time.Since(start).Round(time.Millisecond).String())
		return nil
	}),
)
