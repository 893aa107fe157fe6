package database_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

func TestWarehouseCode(t *testing.T) {
	tests := []struct {
		id    int64
		count int
		want  string
	}{
		{1, 1, "WH-001"},
		{3, 3, "WH-003"},
		{42, 999, "WH-042"},
		{1, 1000, "WH-0001"},
		{1000, 1000, "WH-1000"},
		{7, 10000, "WH-00007"},
		{10000, 10000, "WH-10000"},
	}
	for _, tt := range tests {
		if got := database.WarehouseCode(tt.id, tt.count); got != tt.want {
			t.Errorf("WarehouseCode(%d, %d) = %q, want %q", tt.id, tt.count, got, tt.want)
		}
	}
}

func TestSeedQtyIsDeterministicAndSpread(t *testing.T) {
	distinct := map[int32]bool{}
	for p := int64(1); p <= 50; p++ {
		for w := int64(1); w <= 4; w++ {
			q := database.SeedQty(p, w)
			if q < 0 || q >= 1000 {
				t.Fatalf("SeedQty(%d, %d) = %d, outside [0, 1000)", p, w, q)
			}
			if again := database.SeedQty(p, w); again != q {
				t.Fatalf("SeedQty(%d, %d) gave %d then %d", p, w, q, again)
			}
			distinct[q] = true
		}
	}
	// 200 pairs spread over 1000 values: a broken hash collapses to a few.
	if len(distinct) < 150 {
		t.Errorf("only %d distinct quantities for 200 pairs", len(distinct))
	}
	if database.SeedQty(1, 2) == database.SeedQty(2, 1) && database.SeedQty(1, 3) == database.SeedQty(3, 1) {
		t.Error("quantity ignores which id is the product and which the warehouse")
	}
}

func TestSeedRejectsBadArguments(t *testing.T) {
	db := dbtest.SQLite(t)
	tests := []struct {
		products, warehouses int
		want                 string
	}{
		{0, 3, "products must be positive, got 0"},
		{-5, 3, "products must be positive, got -5"},
		{10, 0, "warehouses must be between 1 and 10000, got 0"},
		{10, -1, "warehouses must be between 1 and 10000, got -1"},
		{10, 10001, "warehouses must be between 1 and 10000, got 10001"},
	}
	for _, tt := range tests {
		_, err := database.Seed(context.Background(), db, tt.products, tt.warehouses)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Seed(%d, %d) error = %v, want %q", tt.products, tt.warehouses, err, tt.want)
		}
	}
	if n := count(t, db, "stock_items") + count(t, db, "warehouses"); n != 0 {
		t.Errorf("rejected seeds wrote %d rows", n)
	}
}

func TestSeed_SQLite(t *testing.T) { runSeedSuite(t, dbtest.SQLite(t)) }
func TestSeed_MySQL(t *testing.T)  { runSeedSuite(t, dbtest.MySQL(t)) }

func runSeedSuite(t *testing.T, db *gorm.DB) {
	ctx := context.Background()

	// With 10-row statements and 30 rows per transaction, 41 x 3 = 123 rows
	// take full statements, several transactions and a short final
	// statement, the paths a large seed takes.
	t.Cleanup(database.SetSeedBatchesForTest(10, 30))
	const products, warehouses = 41, 3
	first, err := database.Seed(ctx, db, products, warehouses)
	if err != nil {
		t.Fatal(err)
	}
	if first.Products != products || first.Warehouses != warehouses || first.StockRows != products*warehouses || first.Version == 0 {
		t.Fatalf("stats = %+v", first)
	}
	if n := count(t, db, "stock_items"); n != products*warehouses {
		t.Fatalf("stock rows = %d, want %d", n, products*warehouses)
	}
	if n := count(t, db, "warehouses"); n != warehouses {
		t.Fatalf("warehouses = %d, want %d", n, warehouses)
	}
	for _, key := range [][2]int64{{1, 1}, {4, 1}, {11, 2}, {41, 3}} {
		qty, version := stockRow(t, db, key[0], key[1])
		if qty != database.SeedQty(key[0], key[1]) || version != first.Version {
			t.Errorf("row %v = qty %d version %d, want %d and %d", key, qty, version, database.SeedQty(key[0], key[1]), first.Version)
		}
	}

	t.Run("re-seed is newer than any stored version", func(t *testing.T) {
		future := first.Version + 1_000_000_000
		if err := database.UpsertStockVersionForTest(ctx, db, 5, 2, 7, future); err != nil {
			t.Fatal(err)
		}
		again, err := database.Seed(ctx, db, products, warehouses)
		if err != nil {
			t.Fatal(err)
		}
		if again.Version <= future {
			t.Fatalf("re-seed version %d not above the stored %d", again.Version, future)
		}
		qty, version := stockRow(t, db, 5, 2)
		if qty != database.SeedQty(5, 2) || version != again.Version {
			t.Errorf("row (5,2) = qty %d version %d, want %d and %d", qty, version, database.SeedQty(5, 2), again.Version)
		}
	})

	t.Run("an older version never overwrites a row", func(t *testing.T) {
		before, beforeVersion := stockRow(t, db, 9, 1)
		if err := database.UpsertStockVersionForTest(ctx, db, 9, 1, 123456, beforeVersion-1); err != nil {
			t.Fatal(err)
		}
		qty, version := stockRow(t, db, 9, 1)
		if qty != before || version != beforeVersion {
			t.Errorf("older write changed the row to qty %d version %d", qty, version)
		}
		if err := database.UpsertStockVersionForTest(ctx, db, 9, 1, 654321, beforeVersion+1); err != nil {
			t.Fatal(err)
		}
		if qty, version := stockRow(t, db, 9, 1); qty != 654321 || version != beforeVersion+1 {
			t.Errorf("newer write gave qty %d version %d", qty, version)
		}
	})

	t.Run("cancelled context stops the seed", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := database.Seed(cctx, db, 10, 2); !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})

	t.Run("more than 999 warehouses widen the codes", func(t *testing.T) {
		if _, err := database.Seed(ctx, db, 1, 1000); err != nil {
			t.Fatal(err)
		}
		var codes []string
		if err := db.Raw(`SELECT code FROM warehouses WHERE id IN (1, 1000) ORDER BY id`).Scan(&codes).Error; err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(codes) != "[WH-0001 WH-1000]" {
			t.Errorf("codes = %v", codes)
		}
	})
}

func TestMigrateRestoresAMissingIndex_SQLite(t *testing.T) {
	runMigrateRestoresIndex(t, dbtest.SQLite(t), "DROP INDEX "+database.StockWarehouseIndex)
}

func TestMigrateRestoresAMissingIndex_MySQL(t *testing.T) {
	runMigrateRestoresIndex(t, dbtest.MySQL(t), "DROP INDEX "+database.StockWarehouseIndex+" ON stock_items")
}

func runMigrateRestoresIndex(t *testing.T, db *gorm.DB, drop string) {
	if err := db.Exec(drop).Error; err != nil {
		t.Fatal(err)
	}
	if hasIndex(t, db) {
		t.Fatal("index still there after dropping it")
	}
	if err := database.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if !hasIndex(t, db) {
		t.Error("Migrate did not restore the index")
	}
}

func hasIndex(t *testing.T, db *gorm.DB) bool {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`
	if database.Dialect(db) == database.DriverMySQL {
		q = `SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = ?`
	}
	if err := db.Raw(q, database.StockWarehouseIndex).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func count(t testing.TB, db *gorm.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func stockRow(t *testing.T, db *gorm.DB, product, warehouse int64) (int32, uint64) {
	t.Helper()
	var row struct {
		Qty     int32
		Version uint64
	}
	err := db.Raw(`SELECT qty_salable AS qty, version FROM stock_items WHERE product_id = ? AND warehouse_id = ?`, product, warehouse).
		Scan(&row).Error
	if err != nil {
		t.Fatal(err)
	}
	return row.Qty, row.Version
}
