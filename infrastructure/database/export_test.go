package database

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// UpsertStockVersionForTest writes one stock row through Seed's upsert, so
// tests can check that an older version never overwrites a newer one.
func UpsertStockVersionForTest(ctx context.Context, db *gorm.DB, productID, warehouseID int64, qty int32, version uint64) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	return upsertRows(ctx, sqlDB, Dialect(db), stockTable, 1, func(_ int, dst []any) {
		dst[0], dst[1], dst[2], dst[3], dst[4] = productID, warehouseID, qty, version, now
	})
}

// SetSeedBatchesForTest shrinks Seed's batches so a few rows span several
// statements and transactions; the returned function restores them.
func SetSeedBatchesForTest(rowsPerStatement, rowsPerCommit int) (restore func()) {
	prevStmt, prevCommit := seedRowsPerStatement, seedRowsPerCommit
	seedRowsPerStatement = map[string]int{DriverMySQL: rowsPerStatement, DriverSQLite: rowsPerStatement}
	seedRowsPerCommit = rowsPerCommit
	return func() { seedRowsPerStatement, seedRowsPerCommit = prevStmt, prevCommit }
}
