package debezium_test

import (
	"encoding/json"
	"testing"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
)

// benchSource is what a real connector sends for a streamed update.
var benchSource = debezium.Source{
	Version: "3.7.0.Final", Name: "gintoki", DB: "inventory", Table: "stock_items",
	ServerID: 223344, File: "mysql-bin.000042", Pos: 1234567, TsMs: 1700000000123,
	GTID: "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:1234", Thread: 17,
}

// benchUpdate is a realistic stock update: both images, the source block,
// and with the schema wrapper the ~3 KB schema the decoder has to step over.
func benchUpdate(b *testing.B, withSchema bool) []byte {
	b.Helper()
	before := domain.StockRow{ProductID: 123456789, WarehouseID: 17, QtySalable: 250, Version: 1700000000123455}
	after := before
	after.QtySalable, after.Version = 249, 1700000000123456
	v, err := debeziumtest.EncodeStock(domain.OpUpdate, &before, &after, benchSource, withSchema, 1700000000123456)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func benchDecodeStock(b *testing.B, value []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := debezium.DecodeStock(value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStock_schema(b *testing.B) { benchDecodeStock(b, benchUpdate(b, true)) }

func BenchmarkDecodeStock_bare(b *testing.B) { benchDecodeStock(b, benchUpdate(b, false)) }

func BenchmarkDecodeStock_flattened(b *testing.B) {
	benchDecodeStock(b, []byte(`{"product_id":123456789,"warehouse_id":17,"qty_salable":249,`+
		`"version":1700000000123456,"updated_at":1700000000123456,"__op":"u","__table":"stock_items",`+
		`"__source_ts_ms":1700000000123,"__deleted":"false"}`))
}

func BenchmarkDecodeWarehouse_bare(b *testing.B) {
	wh := domain.Warehouse{ID: 17, Code: "FRA-1", Name: "Frankfurt 1", Active: true, Version: 99}
	v, err := debeziumtest.EncodeWarehouse(domain.OpUpdate, &wh, &wh, benchSource, false, 1700000000123456)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := debezium.DecodeWarehouse(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEnvelope_schema(b *testing.B) {
	v := benchUpdate(b, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := debezium.DecodeEnvelope(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStock_schema(b *testing.B) {
	row := domain.StockRow{ProductID: 123456789, WarehouseID: 17, QtySalable: 249, Version: 1700000000123456}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := debeziumtest.EncodeStock(domain.OpUpdate, &row, &row, benchSource, true, 1700000000123456); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStock_bare(b *testing.B) {
	row := domain.StockRow{ProductID: 123456789, WarehouseID: 17, QtySalable: 249, Version: 1700000000123456}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := debeziumtest.EncodeStock(domain.OpUpdate, &row, &row, benchSource, false, 1700000000123456); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStdlibReference_schema decodes the same wrapped event with
// encoding/json into typed structs (json.Number, RawMessage images): the
// straightforward design the scanner is measured against.
func BenchmarkStdlibReference_schema(b *testing.B) {
	type stockImage struct {
		ProductID   int64  `json:"product_id"`
		WarehouseID int64  `json:"warehouse_id"`
		QtySalable  int32  `json:"qty_salable"`
		Version     int64  `json:"version"`
		UpdatedAt   *int64 `json:"updated_at"`
	}
	type envelope struct {
		Payload struct {
			Before json.RawMessage `json:"before"`
			After  json.RawMessage `json:"after"`
			Source struct {
				TsMs     int64           `json:"ts_ms"`
				Snapshot json.RawMessage `json:"snapshot"`
			} `json:"source"`
			Op   string `json:"op"`
			TsMs int64  `json:"ts_ms"`
		} `json:"payload"`
	}
	v := benchUpdate(b, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		var env envelope
		if err := json.Unmarshal(v, &env); err != nil {
			b.Fatal(err)
		}
		var row stockImage
		if err := json.Unmarshal(env.Payload.After, &row); err != nil {
			b.Fatal(err)
		}
	}
}

// benchShopUpdate is the shop's update of inventory_levels as the relay
// writes it: columns of its own names, salable on_hand - reserved, no
// version, a GTID that places it.
func benchShopUpdate(b *testing.B, withSchema bool) []byte {
	b.Helper()
	before := levelRow("123456789", "17", "250", "40")
	after := levelRow("123456789", "17", "249", "40")
	return shopEvent(b, &shopLevels, domain.OpUpdate, before, after, shopSource, withSchema)
}

func benchDecodeMapped(b *testing.B, value []byte) {
	dec := mustDecoder(b, shopMapping)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := dec.Stock(value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStock_mappedSchema(b *testing.B) { benchDecodeMapped(b, benchShopUpdate(b, true)) }

func BenchmarkDecodeStock_mappedBare(b *testing.B) { benchDecodeMapped(b, benchShopUpdate(b, false)) }

func BenchmarkDecodeStock_mappedFlattened(b *testing.B) {
	benchDecodeMapped(b, []byte(`{"sku_id":123456789,"location_id":17,"on_hand":249,"reserved":40,`+
		`"updated_at":"2024-01-02T03:04:05.123Z","note":null,"__op":"u","__source_gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23",`+
		`"__source_pos":4711,"__source_row":3,"__source_ts_ms":1700000000123,"__deleted":"false"}`))
}
