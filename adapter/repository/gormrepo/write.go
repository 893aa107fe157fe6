package gormrepo

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
)

// Column limits of the warehouses table. SQLite does not enforce VARCHAR
// lengths, so they are checked here to make both databases refuse the same
// rows.
const (
	maxWarehouseCodeLen = 32
	maxWarehouseNameLen = 255
)

const (
	upsertStockMySQL = `INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at)
VALUES (?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE qty_salable = VALUES(qty_salable), version = VALUES(version), updated_at = VALUES(updated_at)`
	upsertStockSQLite = `INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (product_id, warehouse_id) DO UPDATE SET
qty_salable = excluded.qty_salable, version = excluded.version, updated_at = excluded.updated_at`
	upsertWarehouseMySQL = `INSERT INTO warehouses (id, code, name, is_active, version, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE code = VALUES(code), name = VALUES(name), is_active = VALUES(is_active),
version = VALUES(version), updated_at = VALUES(updated_at)`
	upsertWarehouseSQLite = `INSERT INTO warehouses (id, code, name, is_active, version, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET code = excluded.code, name = excluded.name, is_active = excluded.is_active,
version = excluded.version, updated_at = excluded.updated_at`
	deleteStockSQL     = `DELETE FROM stock_items WHERE product_id = ? AND warehouse_id = ?`
	warehouseByCodeSQL = `SELECT id FROM warehouses WHERE code = ? AND id <> ?`
)

// UpsertStock writes row as given, inserting or replacing it, with
// updated_at set to now. A zero Version is replaced by the next value of the
// microsecond version clock (database.NextVersion). The version is not
// compared with the stored one: callers that simulate writes decide it.
func (r *Repository) UpsertStock(ctx context.Context, row domain.StockRow) (err error) {
	ctx, span := r.start(ctx, "StockRepository.UpsertStock", "UPSERT",
		attribute.Int64("gintoki.product_id", row.ProductID), attribute.Int64("gintoki.warehouse_id", row.WarehouseID))
	defer func() { endSpan(span, err) }()

	if err := r.ownTables("upsert stock"); err != nil {
		return err
	}
	if row.ProductID <= 0 || row.WarehouseID <= 0 {
		return domain.InvalidArgumentf("upsert stock: product and warehouse ids must be positive, got %d and %d", row.ProductID, row.WarehouseID)
	}
	if row.Version == 0 {
		row.Version = database.NextVersion()
	}
	query := upsertStockSQLite
	if database.Dialect(r.db) == database.DriverMySQL {
		query = upsertStockMySQL
	}
	err = r.db.WithContext(ctx).Exec(query, row.ProductID, row.WarehouseID, row.QtySalable, row.Version, now()).Error
	if err != nil {
		return wrapErr(ctx, err, "upsert stock of product %d in warehouse %d", row.ProductID, row.WarehouseID)
	}
	return nil
}

// DeleteStock removes one stock row. Removing a row that does not exist is
// not an error.
func (r *Repository) DeleteStock(ctx context.Context, productID, warehouseID int64) (err error) {
	ctx, span := r.start(ctx, "StockRepository.DeleteStock", "DELETE",
		attribute.Int64("gintoki.product_id", productID), attribute.Int64("gintoki.warehouse_id", warehouseID))
	defer func() { endSpan(span, err) }()

	if err := r.ownTables("delete stock"); err != nil {
		return err
	}
	if err := r.db.WithContext(ctx).Exec(deleteStockSQL, productID, warehouseID).Error; err != nil {
		return wrapErr(ctx, err, "delete stock of product %d in warehouse %d", productID, warehouseID)
	}
	return nil
}

// UpsertWarehouse inserts or replaces warehouse w.ID, with updated_at set to
// now; a zero Version is replaced as in UpsertStock. A code that another
// warehouse already holds is refused with an error on both databases (MySQL
// would otherwise update that other warehouse instead).
func (r *Repository) UpsertWarehouse(ctx context.Context, w domain.Warehouse) (err error) {
	ctx, span := r.start(ctx, "StockRepository.UpsertWarehouse", "UPSERT",
		attribute.Int64("gintoki.warehouse_id", w.ID))
	defer func() { endSpan(span, err) }()

	if err := r.ownTables("upsert warehouse"); err != nil {
		return err
	}
	switch {
	case w.ID <= 0:
		return domain.InvalidArgumentf("upsert warehouse: id must be positive, got %d", w.ID)
	case w.Code == "" || utf8.RuneCountInString(w.Code) > maxWarehouseCodeLen:
		return domain.InvalidArgumentf("upsert warehouse %d: code must have 1 to %d characters, got %q", w.ID, maxWarehouseCodeLen, w.Code)
	case utf8.RuneCountInString(w.Name) > maxWarehouseNameLen:
		return domain.InvalidArgumentf("upsert warehouse %d: name must have at most %d characters", w.ID, maxWarehouseNameLen)
	}
	if w.Version == 0 {
		w.Version = database.NextVersion()
	}
	query := upsertWarehouseSQLite
	if database.Dialect(r.db) == database.DriverMySQL {
		query = upsertWarehouseMySQL
	}
	err = r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var other []int64
		if err := tx.Raw(warehouseByCodeSQL, w.Code, w.ID).Scan(&other).Error; err != nil {
			return fmt.Errorf("look up code %q: %w", w.Code, err)
		}
		if len(other) > 0 {
			return domain.InvalidArgumentf("code %q is already used by warehouse %d", w.Code, other[0])
		}
		return tx.Exec(query, w.ID, w.Code, w.Name, w.Active, w.Version, now()).Error
	})
	if err != nil {
		return wrapErr(ctx, err, "upsert warehouse %d", w.ID)
	}
	return nil
}

// ownTables refuses a write through a repository over mapped tables: the
// writers know only gintoki's own tables (they serve tests, the demo and
// the simulator), and a shop's tables are written by the shop.
func (r *Repository) ownTables(what string) error {
	if r.own {
		return nil
	}
	return fmt.Errorf("%s: this repository reads a schema mapping; gintoki writes only its own tables", what)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
