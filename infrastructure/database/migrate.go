package database

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"
)

// Table and index names of the schema.
const (
	WarehousesTable        = "warehouses"
	StockItemsTable        = "stock_items"
	StockWarehouseIndex    = "idx_stock_items_warehouse_id"
	warehousesCodeUniqueIx = "uniq_warehouses_code"
)

// The DDL is written out per dialect instead of derived from structs, so the
// schema is exactly the documented one (types, keys, names) on both.
var mysqlSchema = []ddl{
	{"create table warehouses", `CREATE TABLE IF NOT EXISTS warehouses (
		id BIGINT NOT NULL,
		code VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
		name VARCHAR(255) NOT NULL,
		is_active TINYINT(1) NOT NULL,
		version BIGINT UNSIGNED NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		PRIMARY KEY (id),
		UNIQUE KEY ` + warehousesCodeUniqueIx + ` (code)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`},
	{"create table stock_items", `CREATE TABLE IF NOT EXISTS stock_items (
		product_id BIGINT NOT NULL,
		warehouse_id BIGINT NOT NULL,
		qty_salable INT NOT NULL,
		version BIGINT UNSIGNED NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		PRIMARY KEY (product_id, warehouse_id),
		KEY ` + StockWarehouseIndex + ` (warehouse_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`},
}

// SQLite notes: "INTEGER PRIMARY KEY" makes id the rowid; WITHOUT ROWID
// clusters stock rows by their key as InnoDB does, so one product's rows sit
// together; DATETIME (without a precision) is the type name the driver
// recognises to scan values back into time.Time.
var sqliteSchema = []ddl{
	{"create table warehouses", `CREATE TABLE IF NOT EXISTS warehouses (
		id INTEGER NOT NULL PRIMARY KEY,
		code VARCHAR(32) NOT NULL,
		name VARCHAR(255) NOT NULL,
		is_active TINYINT(1) NOT NULL,
		version BIGINT UNSIGNED NOT NULL,
		updated_at DATETIME NOT NULL
	)`},
	{"create index " + warehousesCodeUniqueIx, `CREATE UNIQUE INDEX IF NOT EXISTS ` + warehousesCodeUniqueIx + ` ON warehouses (code)`},
	{"create table stock_items", `CREATE TABLE IF NOT EXISTS stock_items (
		product_id BIGINT NOT NULL,
		warehouse_id BIGINT NOT NULL,
		qty_salable INT NOT NULL,
		version BIGINT UNSIGNED NOT NULL,
		updated_at DATETIME NOT NULL,
		PRIMARY KEY (product_id, warehouse_id)
	) WITHOUT ROWID`},
	{"create index " + StockWarehouseIndex, `CREATE INDEX IF NOT EXISTS ` + StockWarehouseIndex + ` ON stock_items (warehouse_id)`},
}

// Migrate creates the warehouses and stock_items tables and their indexes
// when they are missing. Running it again changes nothing.
func Migrate(ctx context.Context, db *gorm.DB) error {
	// DDL goes straight to the pool: gorm would otherwise keep each
	// statement in its prepared-statement cache for the life of the process.
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	switch dialect := Dialect(db); dialect {
	case DriverMySQL:
		if err := execAll(ctx, sqlDB, mysqlSchema); err != nil {
			return err
		}
		return ensureMySQLIndex(ctx, sqlDB)
	case DriverSQLite:
		return execAll(ctx, sqlDB, sqliteSchema)
	default:
		return fmt.Errorf("migrate: unsupported dialect %q", dialect)
	}
}

// ddl is one schema statement and what it does, for error messages.
type ddl struct{ what, sql string }

func execAll(ctx context.Context, db *sql.DB, statements []ddl) error {
	for _, stmt := range statements {
		if _, err := db.ExecContext(ctx, stmt.sql); err != nil {
			return fmt.Errorf("migrate: %s: %w", stmt.what, err)
		}
	}
	return nil
}

// ensureMySQLIndex adds the warehouse index to a stock_items table that was
// created elsewhere without it. MySQL, unlike MariaDB, has no CREATE INDEX
// IF NOT EXISTS, so the catalogue is asked first.
func ensureMySQLIndex(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM information_schema.statistics
		 WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`,
		StockItemsTable, StockWarehouseIndex).Scan(&n)
	if err != nil {
		return fmt.Errorf("migrate: look up index %s: %w", StockWarehouseIndex, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE INDEX `+StockWarehouseIndex+` ON stock_items (warehouse_id)`); err != nil {
		return fmt.Errorf("migrate: create index %s: %w", StockWarehouseIndex, err)
	}
	return nil
}
