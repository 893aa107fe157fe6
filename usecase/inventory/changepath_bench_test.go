package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// Decode + apply: the consumer's work per event, minus Kafka. Half the
// events hit cached products (patched in place), half uncached ones
// (marker only). Reported as events/s.
func BenchmarkDecodeAndApply(b *testing.B) {
	for _, schema := range []bool{false, true} {
		name := "bare"
		if schema {
			name = "schema"
		}
		b.Run(name, func(b *testing.B) {
			store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			svc := inventory.New(inventory.Config{
				CacheEnabled: true, TTL: time.Hour, MarkerTTL: time.Minute,
				DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
			}, memRepo{n: 20000}, store, nil, nil)
			ctx := context.Background()
			for id := int64(1); id <= 10000; id++ { // products 1..10000 cached
				_, _ = svc.Reader.GetProductInventory(ctx, id)
			}
			const distinct = 4096
			events := make([][]byte, distinct)
			for i := range events {
				p := int64(i*5 + 1) // spread over cached and uncached products
				row := &domain.StockRow{ProductID: p, WarehouseID: int64(i%3 + 1), QtySalable: int32(i), Version: 2}
				v, err := debeziumtest.EncodeStock(domain.OpUpdate, row, row, debezium.Source{Name: "gintoki", DB: "inventory", Table: "stock_items", TsMs: 1}, schema, 1)
				if err != nil {
					b.Fatal(err)
				}
				events[i] = v
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := debezium.DecodeStock(events[i%distinct])
				if err != nil {
					b.Fatal(err)
				}
				c.Row.Version = uint64(i + 2) // every event is news
				svc.Changes.ApplyStock(c)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
