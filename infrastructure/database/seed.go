package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// MaxSeedWarehouses bounds Seed's warehouse count.
const MaxSeedWarehouses = 10000

// Batch sizes of Seed. On MySQL 2000 stock rows per statement use 10000
// placeholders, well inside its 65535 limit. The pure-Go SQLite driver
// matches every placeholder against every argument (quadratic in the
// statement's size), so SQLite statements stay small: 100 rows. 20000 rows
// per transaction keep undo logs and lock times small on both.
//
// Variables only so tests can cross statement and transaction boundaries
// with a few rows.
var (
	seedRowsPerStatement = map[string]int{DriverMySQL: 2000, DriverSQLite: 100}
	seedRowsPerCommit    = 20000
)

const (
	minWarehouseCodeDigits  = 3
	seedQtyModulus          = 1000
	seedWarehouseNamePrefix = "Warehouse "
	seedWarehouseCodePrefix = "WH-"
)

// SeedStats tells what a Seed run wrote.
type SeedStats struct {
	Products   int
	Warehouses int
	StockRows  int
	// Version is the row version every row written by this run carries.
	Version uint64
	Elapsed time.Duration
}

// upsertTable describes one table for the batched upsert.
type upsertTable struct {
	name    string
	columns []string // all columns, in argument order
	keys    []string // primary key columns
	// updates are the non-key columns an upsert overwrites; "version" is
	// handled separately and always last.
	updates []string
}

var (
	warehouseTable = upsertTable{
		name:    WarehousesTable,
		columns: []string{"id", "code", "name", "is_active", "version", "updated_at"},
		keys:    []string{"id"},
		updates: []string{"code", "name", "is_active", "updated_at"},
	}
	stockTable = upsertTable{
		name:    StockItemsTable,
		columns: []string{"product_id", "warehouse_id", "qty_salable", "version", "updated_at"},
		keys:    []string{"product_id", "warehouse_id"},
		updates: []string{"qty_salable", "updated_at"},
	}
)

// Seed writes sample data: warehouses 1..warehouses (codes WH-001..., names
// "Warehouse 1"..., all active) and, for products 1..products, one stock row
// in every warehouse. Quantities depend only on (product, warehouse) (see
// SeedQty), so two runs write the same quantities. Every row of a run gets
// one version, newer than any version already in either table, so the rows a
// run rewrites move forward and never back.
//
// Rows go in multi-row upserts, several per transaction. A run that fails
// keeps the transactions committed before the failure; running it again
// completes the data.
func Seed(ctx context.Context, db *gorm.DB, products, warehouses int) (SeedStats, error) {
	start := time.Now()
	if products <= 0 {
		return SeedStats{}, fmt.Errorf("seed: products must be positive, got %d", products)
	}
	if warehouses <= 0 || warehouses > MaxSeedWarehouses {
		return SeedStats{}, fmt.Errorf("seed: warehouses must be between 1 and %d, got %d", MaxSeedWarehouses, warehouses)
	}
	dialect := Dialect(db)
	if dialect != DriverMySQL && dialect != DriverSQLite {
		return SeedStats{}, fmt.Errorf("seed: unsupported dialect %q", dialect)
	}
	// Plain database/sql: statements with 10000 placeholders are prepared
	// once per transaction here instead of living in gorm's cache.
	sqlDB, err := db.DB()
	if err != nil {
		return SeedStats{}, fmt.Errorf("seed: %w", err)
	}

	floor, err := maxVersion(ctx, sqlDB)
	if err != nil {
		return SeedStats{}, err
	}
	version := nextVersionAbove(floor)
	now := time.Now().UTC().Truncate(time.Microsecond)

	err = upsertRows(ctx, sqlDB, dialect, warehouseTable, warehouses, func(i int, dst []any) {
		id := int64(i + 1)
		dst[0], dst[1], dst[2] = id, WarehouseCode(id, warehouses), seedWarehouseNamePrefix+strconv.FormatInt(id, 10)
		dst[3], dst[4], dst[5] = true, version, now
	})
	if err != nil {
		return SeedStats{}, fmt.Errorf("seed %d warehouses: %w", warehouses, err)
	}

	rows := products * warehouses
	err = upsertRows(ctx, sqlDB, dialect, stockTable, rows, func(i int, dst []any) {
		product, warehouse := int64(i/warehouses+1), int64(i%warehouses+1)
		dst[0], dst[1], dst[2] = product, warehouse, SeedQty(product, warehouse)
		dst[3], dst[4] = version, now
	})
	if err != nil {
		return SeedStats{}, fmt.Errorf("seed %d products x %d warehouses: %w", products, warehouses, err)
	}
	return SeedStats{
		Products:   products,
		Warehouses: warehouses,
		StockRows:  rows,
		Version:    version,
		Elapsed:    time.Since(start),
	}, nil
}

// WarehouseCode is the code Seed gives warehouse id when it seeds count
// warehouses: "WH-" and the id zero-padded to three digits, or to as many as
// count has.
func WarehouseCode(id int64, count int) string {
	width := max(minWarehouseCodeDigits, len(strconv.Itoa(count)))
	return fmt.Sprintf("%s%0*d", seedWarehouseCodePrefix, width, id)
}

// SeedQty is the salable quantity Seed writes for a product in a warehouse:
// a hash of the pair, in [0, 1000).
func SeedQty(productID, warehouseID int64) int32 {
	// splitmix64's finaliser: cheap and spreads neighbouring ids apart.
	x := uint64(productID)*0x9E3779B97F4A7C15 ^ uint64(warehouseID)*0xC2B2AE3D27D4EB4F
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return int32(x % seedQtyModulus)
}

func maxVersion(ctx context.Context, db *sql.DB) (uint64, error) {
	var newest uint64
	for _, table := range []string{WarehousesTable, StockItemsTable} {
		var v uint64
		if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+table).Scan(&v); err != nil {
			return 0, fmt.Errorf("seed: read newest version of %s: %w", table, err)
		}
		newest = max(newest, v)
	}
	return newest, nil
}

// upsertRows writes total rows, produced by row(i, dst) into dst (one value
// per column), in multi-row upserts.
func upsertRows(ctx context.Context, db *sql.DB, dialect string, t upsertTable, total int, row func(i int, dst []any)) error {
	cols := len(t.columns)
	perStmt := min(seedRowsPerStatement[dialect], total)
	fullSQL := upsertSQL(dialect, t, perStmt)
	args := make([]any, perStmt*cols)
	// Whole statements per transaction, so only the run's last statement
	// can be short.
	perTx := max(1, seedRowsPerCommit/perStmt) * perStmt

	for first := 0; first < total; first += perTx {
		last := min(first+perTx, total)
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			var full *sql.Stmt
			for i := first; i < last; i += perStmt {
				n := min(perStmt, last-i)
				for r := range n {
					row(i+r, args[r*cols:(r+1)*cols])
				}
				if n < perStmt {
					// Only the final statement of a run is short.
					if _, err := tx.ExecContext(ctx, upsertSQL(dialect, t, n), args[:n*cols]...); err != nil {
						return fmt.Errorf("upsert rows %d-%d into %s: %w", i+1, i+n, t.name, err)
					}
					continue
				}
				if full == nil {
					var err error
					if full, err = tx.PrepareContext(ctx, fullSQL); err != nil {
						return fmt.Errorf("prepare upsert into %s: %w", t.name, err)
					}
					defer full.Close()
				}
				if _, err := full.ExecContext(ctx, args...); err != nil {
					return fmt.Errorf("upsert rows %d-%d into %s: %w", i+1, i+n, t.name, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// upsertSQL builds an INSERT of rows rows that, on a key conflict, takes the
// new values only when the new version is newer, so no row ever goes back.
func upsertSQL(dialect string, t upsertTable, rows int) string {
	var b strings.Builder
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.columns)), ",") + ")"
	b.Grow(64 + rows*(len(tuple)+1) + 64*len(t.updates))
	b.WriteString("INSERT INTO ")
	b.WriteString(t.name)
	b.WriteString(" (")
	b.WriteString(strings.Join(t.columns, ", "))
	b.WriteString(") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	if dialect == DriverMySQL {
		// MySQL applies the assignments left to right and later ones see
		// the earlier results, so version, which the conditions read, is
		// assigned last.
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for _, c := range t.updates {
			fmt.Fprintf(&b, "%s = IF(VALUES(version) > version, VALUES(%s), %s), ", c, c, c)
		}
		b.WriteString("version = GREATEST(version, VALUES(version))")
		return b.String()
	}
	fmt.Fprintf(&b, " ON CONFLICT (%s) DO UPDATE SET ", strings.Join(t.keys, ", "))
	for _, c := range t.updates {
		fmt.Fprintf(&b, "%s = excluded.%s, ", c, c)
	}
	fmt.Fprintf(&b, "version = excluded.version WHERE excluded.version > %s.version", t.name)
	return b.String()
}
