package gormrepo_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/simulator"
)

var _ simulator.StockChanger = (*gormrepo.Repository)(nil)

// changeBackends runs f once per database; the MariaDB run skips (with
// dbtest's message) when no server is configured.
func changeBackends(t *testing.T, f func(t *testing.T, db *gorm.DB)) {
	t.Helper()
	for _, b := range []struct {
		name string
		open func(testing.TB) *gorm.DB
	}{
		{"sqlite", dbtest.SQLite},
		{"mysql", dbtest.MySQL},
	} {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

func changeSeed(t *testing.T, repo *gormrepo.Repository, row domain.StockRow) {
	t.Helper()
	if err := repo.UpsertStock(context.Background(), row); err != nil {
		t.Fatalf("seed %+v: %v", row, err)
	}
}

func changeStoredRow(t *testing.T, db *gorm.DB, productID, warehouseID int64) (domain.StockRow, time.Time) {
	t.Helper()
	var got struct {
		QtySalable int32
		Version    uint64
		UpdatedAt  time.Time
	}
	err := db.Raw(`SELECT qty_salable, version, updated_at FROM stock_items WHERE product_id = ? AND warehouse_id = ?`,
		productID, warehouseID).Scan(&got).Error
	if err != nil {
		t.Fatalf("read back row (%d, %d): %v", productID, warehouseID, err)
	}
	return domain.StockRow{ProductID: productID, WarehouseID: warehouseID, QtySalable: got.QtySalable, Version: got.Version},
		got.UpdatedAt
}

func TestChangeStockQtyReturnsBothImagesAndWritesTheRow(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		ctx := context.Background()
		changeSeed(t, repo, domain.StockRow{ProductID: 7, WarehouseID: 3, QtySalable: 5, Version: 100})
		// A neighbour that must stay as it is.
		changeSeed(t, repo, domain.StockRow{ProductID: 7, WarehouseID: 4, QtySalable: 9, Version: 200})

		start := time.Now().UTC().Truncate(time.Microsecond)
		before, after, updatedAt, err := repo.ChangeStockQty(ctx, 7, 3, 42)
		end := time.Now().UTC()
		if err != nil {
			t.Fatalf("ChangeStockQty: %v", err)
		}

		wantBefore := domain.StockRow{ProductID: 7, WarehouseID: 3, QtySalable: 5, Version: 100}
		if before != wantBefore {
			t.Errorf("before = %+v, want %+v", before, wantBefore)
		}
		if after.ProductID != 7 || after.WarehouseID != 3 || after.QtySalable != 42 {
			t.Errorf("after = %+v, want product 7, warehouse 3, qty 42", after)
		}
		if after.Version <= before.Version {
			t.Errorf("after.Version = %d, not above before.Version %d", after.Version, before.Version)
		}
		// The version comes from the microsecond clock, so it is at least
		// the time the call started.
		if after.Version < uint64(start.UnixMicro()) {
			t.Errorf("after.Version = %d, below the clock at the start of the call (%d)", after.Version, start.UnixMicro())
		}
		if updatedAt < start.UnixMicro() || updatedAt > end.UnixMicro() {
			t.Errorf("updatedAtMicros = %d, outside the call [%d, %d]", updatedAt, start.UnixMicro(), end.UnixMicro())
		}

		stored, storedAt := changeStoredRow(t, db, 7, 3)
		if stored != after {
			t.Errorf("stored row = %+v, want the after-image %+v", stored, after)
		}
		if storedAt.UnixMicro() != updatedAt {
			t.Errorf("stored updated_at = %s (%d µs), want %d µs", storedAt, storedAt.UnixMicro(), updatedAt)
		}
		neighbour, _ := changeStoredRow(t, db, 7, 4)
		if want := (domain.StockRow{ProductID: 7, WarehouseID: 4, QtySalable: 9, Version: 200}); neighbour != want {
			t.Errorf("neighbour row = %+v, want it untouched: %+v", neighbour, want)
		}
	})
}

func TestChangeStockQtyVersionAboveAFutureVersion(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		// Written by a process whose clock runs an hour ahead: the clock
		// alone would go backwards.
		future := uint64(time.Now().Add(time.Hour).UnixMicro())
		changeSeed(t, repo, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: future})

		_, after, _, err := repo.ChangeStockQty(context.Background(), 1, 1, 2)
		if err != nil {
			t.Fatalf("ChangeStockQty: %v", err)
		}
		if after.Version != future+1 {
			t.Errorf("after.Version = %d, want old+1 = %d", after.Version, future+1)
		}
	})
}

func TestChangeStockQtyRejects(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		changeSeed(t, repo, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1})

		for _, tc := range []struct {
			name                   string
			productID, warehouseID int64
			want                   error
		}{
			{"missing row", 1, 2, domain.ErrNotFound},
			{"missing product", 99, 1, domain.ErrNotFound},
			{"zero product", 0, 1, domain.ErrInvalidArgument},
			{"negative warehouse", 1, -1, domain.ErrInvalidArgument},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, after, at, err := repo.ChangeStockQty(context.Background(), tc.productID, tc.warehouseID, 5)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want one wrapping %v", err, tc.want)
				}
				if before != (domain.StockRow{}) || after != (domain.StockRow{}) || at != 0 {
					t.Errorf("got images %+v / %+v / %d with an error, want zero values", before, after, at)
				}
			})
		}
		if stored, _ := changeStoredRow(t, db, 1, 1); stored.QtySalable != 1 || stored.Version != 1 {
			t.Errorf("existing row changed to %+v by failed calls", stored)
		}
	})
}

func TestChangeStockQtyHonoursCancelledContext(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		changeSeed(t, repo, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, _, err := repo.ChangeStockQty(ctx, 1, 1, 5); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want one wrapping context.Canceled", err)
		}
		if stored, _ := changeStoredRow(t, db, 1, 1); stored.QtySalable != 1 {
			t.Errorf("row changed to %+v by a cancelled call", stored)
		}
	})
}

func TestChangeStockQtyVersionsGrowOverRapidUpdates(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		ctx := context.Background()
		changeSeed(t, repo, domain.StockRow{ProductID: 5, WarehouseID: 6, QtySalable: 0, Version: 1})

		prev := domain.StockRow{ProductID: 5, WarehouseID: 6, QtySalable: 0, Version: 1}
		for i := range 1000 {
			qty := int32(i % 1000)
			before, after, _, err := repo.ChangeStockQty(ctx, 5, 6, qty)
			if err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
			if before != prev {
				t.Fatalf("update %d: before = %+v, want the previous after-image %+v", i, before, prev)
			}
			if after.Version <= before.Version {
				t.Fatalf("update %d: version %d -> %d does not grow", i, before.Version, after.Version)
			}
			if after.QtySalable != qty {
				t.Fatalf("update %d: qty = %d, want %d", i, after.QtySalable, qty)
			}
			prev = after
		}
	})
}

func TestChangeStockQtyConcurrentUpdatesOfOneRow(t *testing.T) {
	changeBackends(t, func(t *testing.T, db *gorm.DB) {
		repo := gormrepo.New(db, nil)
		ctx := context.Background()
		const (
			workers   = 8
			perWorker = 40
			seedVer   = 1
		)
		changeSeed(t, repo, domain.StockRow{ProductID: 2, WarehouseID: 2, QtySalable: 0, Version: seedVer})

		type change struct{ before, after uint64 }
		var (
			mu      sync.Mutex
			changes []change
			wg      sync.WaitGroup
		)
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					before, after, _, err := repo.ChangeStockQty(ctx, 2, 2, int32(w*perWorker+i))
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					changes = append(changes, change{before.Version, after.Version})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent ChangeStockQty: %v", err)
		}

		// Serialised changes form one chain: every version written is
		// unique, and every change read the version exactly one other
		// change wrote (or the seed). A lost update would show up as two
		// changes reading the same version.
		written := make(map[uint64]bool, len(changes))
		read := make(map[uint64]bool, len(changes))
		for _, c := range changes {
			if c.after <= c.before {
				t.Errorf("version %d -> %d does not grow", c.before, c.after)
			}
			if written[c.after] {
				t.Errorf("version %d written twice", c.after)
			}
			written[c.after] = true
			if read[c.before] {
				t.Errorf("version %d read by two changes: a lost update", c.before)
			}
			read[c.before] = true
		}
		if !read[seedVer] {
			t.Errorf("no change read the seeded version %d", seedVer)
		}
		stored, _ := changeStoredRow(t, db, 2, 2)
		for v := range read {
			if v != seedVer && !written[v] {
				t.Errorf("a change read version %d that no change wrote", v)
			}
		}
		if !written[stored.Version] || read[stored.Version] {
			t.Errorf("stored version %d is not the last one written", stored.Version)
		}
		if len(changes) != workers*perWorker {
			t.Errorf("%d changes recorded, want %d", len(changes), workers*perWorker)
		}
	})
}
