package gormrepo_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// StockByProducts is the query of every cache fill. Run:
// GINTOKI_TEST_MYSQL_DSN=... go test -run '^$' -bench StockByProducts -count 5 ./adapter/repository/gormrepo/
func BenchmarkStockByProducts_MySQL(b *testing.B)  { benchStockByProducts(b, dbtest.MySQL(b)) }
func BenchmarkStockByProducts_SQLite(b *testing.B) { benchStockByProducts(b, dbtest.SQLite(b)) }

func benchStockByProducts(b *testing.B, db *gorm.DB) {
	const products, warehouses = 10_000, 3
	ctx := context.Background()
	if _, err := database.Seed(ctx, db, products, warehouses); err != nil {
		b.Fatal(err)
	}
	repo := gormrepo.New(db, nil)
	for _, batch := range []int{1, 100} {
		ids := make([]int64, batch)
		b.Run(map[int]string{1: "1 id", 100: "100 ids"}[batch], func(b *testing.B) {
			b.ReportAllocs()
			next := int64(0)
			for b.Loop() {
				for i := range ids {
					next = next%products + 1
					ids[i] = next
				}
				rows, err := repo.StockByProducts(ctx, ids)
				if err != nil || len(rows) != batch*warehouses {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}
