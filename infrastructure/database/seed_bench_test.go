package database_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

const benchProducts, benchWarehouses = 100_000, 3

// BenchmarkSeed100k seeds 100k products x 3 warehouses (300k stock rows) on
// MariaDB: "insert" into empty tables, "reseed" over existing rows.
// Run: GINTOKI_TEST_MYSQL_DSN=... go test -run '^$' -bench Seed100k -benchtime 3x ./infrastructure/database/
func BenchmarkSeed100k(b *testing.B) { benchSeed(b, dbtest.MySQL(b)) }

// BenchmarkSeed100kSQLite is the same on a SQLite file, for comparison.
func BenchmarkSeed100kSQLite(b *testing.B) { benchSeed(b, dbtest.SQLite(b)) }

func benchSeed(b *testing.B, db *gorm.DB) {
	ctx := context.Background()
	b.Run("insert", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			for _, table := range []string{"stock_items", "warehouses"} {
				if err := db.Exec("DELETE FROM " + table).Error; err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			stats, err := database.Seed(ctx, db, benchProducts, benchWarehouses)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d rows into empty tables in %v", stats.StockRows, stats.Elapsed)
		}
		b.ReportMetric(float64(benchProducts*benchWarehouses*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("reseed", func(b *testing.B) {
		for range b.N {
			stats, err := database.Seed(ctx, db, benchProducts, benchWarehouses)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("re-seeded %d existing rows in %v", stats.StockRows, stats.Elapsed)
		}
		b.ReportMetric(float64(benchProducts*benchWarehouses*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
