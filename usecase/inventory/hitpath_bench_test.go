package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// memRepo serves 3 warehouses x n products from memory, for benchmarks.
type memRepo struct{ n int64 }

func (r memRepo) StockByProducts(_ context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	var out []domain.StockWithWarehouse
	for _, id := range ids {
		if id > r.n {
			continue
		}
		for w := int64(1); w <= 3; w++ {
			out = append(out, domain.StockWithWarehouse{
				Stock:        domain.StockRow{ProductID: id, WarehouseID: w, QtySalable: int32(id + w), Version: 1},
				Warehouse:    domain.Warehouse{ID: w, Code: "WH-00" + string(rune('0'+w)), Active: true, Version: 1},
				HasWarehouse: true,
			})
		}
	}
	return out, nil
}

func (memRepo) Warehouses(context.Context) ([]domain.Warehouse, error) { return nil, nil }
func (memRepo) Position(context.Context) (domain.SourcePos, error)     { return nil, nil }
func (memRepo) Ping(context.Context) error                             { return nil }

// The hit path through the real bigcache store: every hit copies out of
// bigcache, decodes and joins.
func BenchmarkHitPath(b *testing.B) {
	for _, tc := range []struct{ name string }{{"store-only"}} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			svc := inventory.New(inventory.Config{
				CacheEnabled: true, TTL: time.Hour,
				DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
			}, memRepo{n: 10000}, store, nil, nil)
			ctx := context.Background()
			for id := int64(1); id <= 10000; id++ {
				_, _ = svc.Reader.GetProductInventory(ctx, id)
				_, _ = svc.Reader.GetProductInventory(ctx, id)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := int64(0)
				for pb.Next() {
					id = id%10000 + 1
					if _, err := svc.Reader.GetProductInventory(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkBatch100Hits(b *testing.B) {
	store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	svc := inventory.New(inventory.Config{
		CacheEnabled: true, TTL: time.Hour,
		DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
	}, memRepo{n: 10000}, store, nil, nil)
	ctx := context.Background()
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = int64(i*97 + 1)
	}
	_, _ = svc.Reader.BatchGetProductInventory(ctx, ids)
	_, _ = svc.Reader.BatchGetProductInventory(ctx, ids)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Reader.BatchGetProductInventory(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
}
