package inventory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Decode + apply: the consumer's work per event, minus Kafka. Half the
// events hit cached products (patched in place), half uncached ones
// (marker only). Reported as events/s. "bare" and "schema" are the
// project's own tables in version order (without and with the JsonConverter
// schema wrapper); "binlog" is a shop's table without a version column
// (salable on_hand - reserved), ordered by the events' GTIDs.
func BenchmarkDecodeAndApply(b *testing.B) {
	for _, tc := range []struct {
		name   string
		schema bool
		binlog bool
	}{{"bare", false, false}, {"schema", true, false}, {"binlog", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cfg := inventory.Config{
				CacheEnabled: true, TTL: time.Hour, MarkerTTL: time.Minute,
				DBMaxInFlight: 8, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
			}
			if tc.binlog {
				cfg.StockOrder, cfg.WarehouseOrder = domain.ByBinlog, domain.ByBinlog
			}
			svc := inventory.New(cfg, memRepo{n: 20000, binlog: tc.binlog}, store, nil, nil)
			ctx := context.Background()
			for id := int64(1); id <= 10000; id++ { // products 1..10000 cached
				_, _ = svc.Reader.GetProductInventory(ctx, id)
			}
			const distinct = 4096
			events := make([][]byte, distinct)
			for i := range events {
				p := int64(i*5 + 1) // spread over cached and uncached products
				if events[i], err = benchEvent(p, int64(i%3+1), int32(i), tc.schema, tc.binlog); err != nil {
					b.Fatal(err)
				}
			}
			decoder := debezium.DefaultDecoder()
			if tc.binlog {
				if decoder, err = debezium.NewDecoder(shopMapping); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := decoder.Stock(events[i%distinct])
				if err != nil {
					b.Fatal(err)
				}
				// Every event is news: a newer version, or a later transaction.
				c.Row.Version, c.GTID.Seq = uint64(i+2), uint64(i+2)
				svc.Changes.ApplyStock(c)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// shopMapping is a shop's stock table without a version column.
var shopMapping = domain.Mapping{Stock: domain.StockMapping{Table: "inventory_levels", Product: "sku_id",
	Warehouse: "location_id", Salable: domain.Salable{Column: "on_hand", Minus: "reserved"}}}

var shopLevels = &relay.Table{DB: "shop", Name: "inventory_levels", Key: []int{0, 1}, Columns: []relay.Column{
	{Name: "sku_id", Type: "bigint"}, {Name: "location_id", Type: "int"}, {Name: "on_hand", Type: "int"},
	{Name: "reserved", Type: "int"}, {Name: "updated_at", Type: "timestamp", Scale: 3}}}

// benchEvent is an update event of row (p, w) as the relay writes it: of
// stock_items at version 2, or of inventory_levels with a GTID.
func benchEvent(p, w int64, qty int32, schema, binlog bool) ([]byte, error) {
	if !binlog {
		row := &domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: qty, Version: 2}
		return debeziumtest.EncodeStock(domain.OpUpdate, row, row, debezium.Source{Name: "gintoki", DB: "inventory", Table: "stock_items", TsMs: 1}, schema, 1)
	}
	codec, err := debezium.NewRowCodec(shopLevels)
	if err != nil {
		return nil, err
	}
	row := relay.Row{[]byte(strconv.FormatInt(p, 10)), []byte(strconv.FormatInt(w, 10)), []byte(strconv.Itoa(int(qty) + 5)),
		[]byte("5"), []byte("2026-12-06 10:00:00.000")}
	src := debezium.Source{Name: "shop", DB: "shop", Table: "inventory_levels", TsMs: 1, File: "binlog.000001", Pos: 4711, GTID: "0-1-2"}
	return codec.EncodeEvent(domain.OpUpdate, row, row, src, time.UnixMilli(1), schema)
}
