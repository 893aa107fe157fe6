package gormrepo

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
)

const (
	stockForChangeSQL = `SELECT qty_salable, version FROM stock_items WHERE product_id = ? AND warehouse_id = ?`
	// SQLite has no row locks: its DSN begins transactions IMMEDIATE, so the
	// whole database is already locked for writing when the SELECT runs.
	stockForChangeMySQL = stockForChangeSQL + ` FOR UPDATE`
	changeStockQtySQL   = `UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = ? WHERE product_id = ? AND warehouse_id = ?`
)

// ChangeStockQty sets the salable quantity of one existing stock row, gives
// the row a new version and updated_at = now, and returns the row as it was
// and as it is now, plus the new updated_at in Unix microseconds (what a
// change event carries).
//
// Reading and writing happen in one transaction that holds the row (MySQL)
// or the database (SQLite) locked, so concurrent changes of one row are
// serialised and each one sees the version the previous one wrote. The new
// version is max(old+1, microsecond clock): strictly greater than the old
// one even when another process with a clock ahead of ours wrote it, and,
// being clock-based, never below a version the row had before a delete and
// re-insert.
//
// A row that does not exist is an error wrapping domain.ErrNotFound.
func (r *Repository) ChangeStockQty(ctx context.Context, productID, warehouseID int64, qty int32) (before, after domain.StockRow, updatedAtMicros int64, err error) {
	ctx, span := r.start(ctx, "StockRepository.ChangeStockQty", "UPDATE",
		attribute.Int64("gintoki.product_id", productID), attribute.Int64("gintoki.warehouse_id", warehouseID))
	defer func() { endSpan(span, err) }()

	if err := r.ownTables("change stock"); err != nil {
		return before, after, 0, err
	}
	if productID <= 0 || warehouseID <= 0 {
		return before, after, 0, domain.InvalidArgumentf("change stock: product and warehouse ids must be positive, got %d and %d", productID, warehouseID)
	}
	selectSQL := stockForChangeSQL
	if database.Dialect(r.db) == database.DriverMySQL {
		selectSQL = stockForChangeMySQL
	}

	err = r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rows, err := tx.Raw(selectSQL, productID, warehouseID).Rows()
		if err != nil {
			return fmt.Errorf("read row: %w", err)
		}
		found := rows.Next()
		if found {
			err = rows.Scan(&before.QtySalable, &before.Version)
		}
		if err == nil {
			err = rows.Err()
		}
		// Closed before the UPDATE: an open result set would keep the
		// connection busy.
		if closeErr := rows.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("read row: %w", err)
		}
		if !found {
			return domain.NotFoundf("no stock row for product %d in warehouse %d", productID, warehouseID)
		}
		before.ProductID, before.WarehouseID = productID, warehouseID

		after = before
		after.QtySalable = qty
		after.Version = max(before.Version+1, database.NextVersion())
		at := now()
		updatedAtMicros = at.UnixMicro()

		res := tx.Exec(changeStockQtySQL, qty, after.Version, at, productID, warehouseID)
		if res.Error != nil {
			return fmt.Errorf("write row: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			// Cannot happen while the lock holds; refuse to report a change
			// that was not made.
			return fmt.Errorf("write row: %d rows changed, want 1", res.RowsAffected)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return domain.StockRow{}, domain.StockRow{}, 0, fmt.Errorf("change stock: %w", err)
		}
		return domain.StockRow{}, domain.StockRow{}, 0,
			wrapErr(ctx, err, "change stock of product %d in warehouse %d", productID, warehouseID)
	}
	return before, after, updatedAtMicros, nil
}
