package gormrepo_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// A query that is already running when its deadline passes must return,
// not wait for the database: here it waits on a table another session has
// locked.
func TestDeadlineEndsAQueryThatIsWaiting_MySQL(t *testing.T) {
	db := dbtest.MySQL(t)
	ctx := context.Background()
	repo := gormrepo.New(db, nil)
	if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 3}); err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	locker, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, "LOCK TABLES stock_items WRITE"); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			if _, err := locker.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
				t.Error(err)
			}
		}
	}
	defer unlock()

	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = repo.StockByProducts(qctx, []int64{1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked query returned %v, want context.DeadlineExceeded", err)
	}
	if !strings.HasPrefix(err.Error(), "load stock of 1 products: ") {
		t.Errorf("error %q lacks its context", err)
	}

	unlock()
	rows, err := repo.StockByProducts(ctx, []int64{1})
	if err != nil || len(rows) != 1 || rows[0].Stock.QtySalable != 3 {
		t.Errorf("after the lock: %+v, %v", rows, err)
	}
}

func TestClosedDatabaseErrorsCarryContext(t *testing.T) {
	ctx := context.Background()
	dsn, err := database.ParseDSN("sqlite://" + filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, dsn, database.PoolConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := database.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	repo := gormrepo.New(db, nil)
	if err := database.Close(db); err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		prefix string
		err    error
	}{
		{"load stock of 2 products: ", func() error { _, err := repo.StockByProducts(ctx, []int64{4, 5}); return err }()},
		{"load warehouses: ", func() error { _, err := repo.Warehouses(ctx); return err }()},
		{"ping database: ", repo.Ping(ctx)},
		{"upsert stock of product 4 in warehouse 1: ", repo.UpsertStock(ctx, domain.StockRow{ProductID: 4, WarehouseID: 1})},
		{"delete stock of product 4 in warehouse 1: ", repo.DeleteStock(ctx, 4, 1)},
		{"upsert warehouse 1: ", repo.UpsertWarehouse(ctx, domain.Warehouse{ID: 1, Code: "A"})},
	}
	for _, c := range checks {
		if c.err == nil || !strings.HasPrefix(c.err.Error(), c.prefix) || !strings.Contains(c.err.Error(), "database is closed") {
			t.Errorf("error %v, want %q... database is closed", c.err, c.prefix)
		}
	}
}
