package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// memRepo serves 3 warehouses x n products from memory, for benchmarks;
// binlog: a table without a version column, on a server with GTIDs.
type memRepo struct {
	n      int64
	binlog bool
}

func (r memRepo) StockByProducts(_ context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	version := uint64(1)
	if r.binlog {
		version = 0
	}
	var out []domain.StockWithWarehouse
	for _, id := range ids {
		if id > r.n {
			continue
		}
		for w := int64(1); w <= 3; w++ {
			out = append(out, domain.StockWithWarehouse{
				Stock:        domain.StockRow{ProductID: id, WarehouseID: w, QtySalable: int32(id + w), Version: version},
				Warehouse:    domain.Warehouse{ID: w, Code: "WH-00" + string(rune('0'+w)), Active: true, Version: 1},
				HasWarehouse: true,
			})
		}
	}
	return out, nil
}

func (memRepo) Warehouses(context.Context) ([]domain.Warehouse, error) { return nil, nil }
func (r memRepo) Position(context.Context) (domain.SourcePos, error) {
	if !r.binlog {
		return nil, nil
	}
	return domain.ParseSourcePos("0-1-1")
}
func (memRepo) Ping(context.Context) error { return nil }

// The hit path through the real bigcache store: every hit copies out of
// bigcache, decodes and joins.
func BenchmarkHitPath(b *testing.B) {
	for _, tc := range []struct {
		name   string
		binlog bool
	}{{"store-only", false}, {"binlog-order", true}} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cfg := inventory.Config{
				CacheEnabled: true, TTL: time.Hour,
				DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
			}
			if tc.binlog {
				cfg.StockOrder, cfg.WarehouseOrder = domain.ByBinlog, domain.ByBinlog
			}
			svc := inventory.New(cfg, memRepo{n: 10000, binlog: tc.binlog}, store, nil, nil)
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
