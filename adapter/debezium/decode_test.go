package debezium_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// The three forms of one event, built from its parts.

const testSource = `{"version":"3.7.0.Alpha2","connector":"mysql","name":"gintoki","ts_ms":1700000000123,` +
	`"snapshot":"false","db":"inventory","sequence":null,"table":"stock_items","server_id":1,"gtid":null,` +
	`"file":"mysql-bin.000003","pos":4711,"row":0,"thread":12,"query":null}`

// bareEvent is an envelope without the schema wrapper; before and after are
// raw JSON ("null" for none).
func bareEvent(op, before, after string) string {
	return `{"before":` + before + `,"after":` + after + `,"source":` + testSource +
		`,"op":"` + op + `","ts_ms":1700000000456,"transaction":null}`
}

// wrappedEvent puts an envelope (or flattened row) in the JsonConverter
// wrapper, with a schema the decoder must step over.
func wrappedEvent(payload string) string {
	return `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"product_id"}],` +
		`"optional":false,"name":"gintoki.inventory.stock_items.Envelope"},"payload":` + payload + `}`
}

// flatRow adds ExtractNewRecordState's metadata members to a row.
func flatRow(row, meta string) string {
	if meta == "" {
		return row
	}
	return strings.TrimSuffix(row, "}") + "," + meta + "}"
}

const (
	stockRow1 = `{"product_id":42,"warehouse_id":7,"qty_salable":15,"version":1001,"updated_at":1700000000123456}`
	stockRow2 = `{"product_id":42,"warehouse_id":7,"qty_salable":9,"version":1002,"updated_at":1700000000999999}`
)

var (
	row1 = domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: 15, Version: 1001}
	row2 = domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: 9, Version: 1002}
)

// stockWith returns stockRow1 with one member replaced (value "" drops it).
func stockWith(member, value string) string {
	parts := map[string]string{
		"product_id": "42", "warehouse_id": "7", "qty_salable": "15", "version": "1001", "updated_at": "1700000000123456",
	}
	if value == "" {
		delete(parts, member)
	} else {
		parts[member] = value
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, k := range []string{"product_id", "warehouse_id", "qty_salable", "version", "updated_at"} {
		v, ok := parts[k]
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteByte('}')
	return b.String()
}

func TestDecodeStock(t *testing.T) {
	const tsMs = 1700000000123
	tests := []struct {
		name  string
		value string
		want  domain.StockChange
	}{
		{"create bare", bareEvent("c", "null", stockRow1), domain.StockChange{Op: domain.OpCreate, Row: row1, SourceTsMs: tsMs}},
		{"create wrapped", wrappedEvent(bareEvent("c", "null", stockRow1)), domain.StockChange{Op: domain.OpCreate, Row: row1, SourceTsMs: tsMs}},
		{"create flattened", flatRow(stockRow1, `"__op":"c","__table":"stock_items","__source_ts_ms":1700000000123,"__deleted":"false"`),
			domain.StockChange{Op: domain.OpCreate, Row: row1, SourceTsMs: tsMs}},
		{"update takes the after-image", bareEvent("u", stockRow1, stockRow2), domain.StockChange{Op: domain.OpUpdate, Row: row2, SourceTsMs: tsMs}},
		{"update without before", bareEvent("u", "null", stockRow2), domain.StockChange{Op: domain.OpUpdate, Row: row2, SourceTsMs: tsMs}},
		{"update wrapped", wrappedEvent(bareEvent("u", stockRow1, stockRow2)), domain.StockChange{Op: domain.OpUpdate, Row: row2, SourceTsMs: tsMs}},
		{"update flattened", flatRow(stockRow2, `"__op":"u","__deleted":"false"`), domain.StockChange{Op: domain.OpUpdate, Row: row2}},
		{"delete takes the before-image", bareEvent("d", stockRow1, "null"), domain.StockChange{Op: domain.OpDelete, Row: row1, SourceTsMs: tsMs}},
		{"delete wrapped", wrappedEvent(bareEvent("d", stockRow1, "null")), domain.StockChange{Op: domain.OpDelete, Row: row1, SourceTsMs: tsMs}},
		{"delete flattened, __deleted string", flatRow(stockRow1, `"__op":"d","__deleted":"true"`), domain.StockChange{Op: domain.OpDelete, Row: row1}},
		{"delete flattened, __deleted bool", flatRow(stockRow1, `"__deleted":true`), domain.StockChange{Op: domain.OpDelete, Row: row1}},
		{"delete flattened, __deleted wins over __op", flatRow(stockRow1, `"__op":"u","__deleted":"true"`), domain.StockChange{Op: domain.OpDelete, Row: row1}},
		{"delete flattened, __op alone", flatRow(stockRow1, `"__op":"d"`), domain.StockChange{Op: domain.OpDelete, Row: row1}},
		{"delete before-image without qty", bareEvent("d", stockWith("qty_salable", ""), "null"),
			domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 42, WarehouseID: 7, Version: 1001}, SourceTsMs: tsMs}},
		{"delete before-image with null qty", bareEvent("d", stockWith("qty_salable", "null"), "null"),
			domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 42, WarehouseID: 7, Version: 1001}, SourceTsMs: tsMs}},
		{"flattened without __op is an upsert", stockRow1, domain.StockChange{Op: domain.OpUpdate, Row: row1}},
		{"flattened with __deleted false only", flatRow(stockRow1, `"__deleted":false`), domain.StockChange{Op: domain.OpUpdate, Row: row1}},
		{"flattened wrapped", wrappedEvent(flatRow(stockRow1, `"__op":"r","__source_ts_ms":5`)), domain.StockChange{Op: domain.OpRead, Row: row1, SourceTsMs: 5}},
		{"snapshot read, snapshot as string", strings.Replace(bareEvent("r", "null", stockRow1), `"snapshot":"false"`, `"snapshot":"last"`, 1),
			domain.StockChange{Op: domain.OpRead, Row: row1, SourceTsMs: tsMs}},
		{"snapshot read, snapshot as bool", strings.Replace(bareEvent("r", "null", stockRow1), `"snapshot":"false"`, `"snapshot":true`, 1),
			domain.StockChange{Op: domain.OpRead, Row: row1, SourceTsMs: tsMs}},
		{"truncate has no row", `{"source":` + testSource + `,"op":"t","ts_ms":1}`, domain.StockChange{Op: domain.OpTruncate, SourceTsMs: tsMs}},
		{"truncate with null images", bareEvent("t", "null", "null"), domain.StockChange{Op: domain.OpTruncate, SourceTsMs: tsMs}},
		{"no source block", `{"op":"c","after":` + stockRow1 + `}`, domain.StockChange{Op: domain.OpCreate, Row: row1}},
		{"members in any order, white space, unknown members", "\n{ \"op\" : \"c\", \"extra\": [1, {\"a\": null}], \"after\" : " +
			`{"updated_at":null,"version":1001,"note":"x","qty_salable":15,"warehouse_id":7,"product_id":42} }` + "\n",
			domain.StockChange{Op: domain.OpCreate, Row: row1}},
		{"escaped member names", `{"op":"c","after":{"product\u005fid":42,"warehouse_id":7,"qty_salable":15,"version":1001}}`,
			domain.StockChange{Op: domain.OpCreate, Row: row1}},
		{"negative qty", bareEvent("u", "null", stockWith("qty_salable", "-3")),
			domain.StockChange{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: -3, Version: 1001}, SourceTsMs: tsMs}},
		{"updated_at as ISO string", bareEvent("u", "null", stockWith("updated_at", `"2024-01-01T00:00:00.123456Z"`)),
			domain.StockChange{Op: domain.OpUpdate, Row: row1, SourceTsMs: tsMs}},
		{"old source layout with ts_sec", `{"op":"c","after":` + stockRow1 + `,"source":{"ts_sec":1700000000,"snapshot":true}}`,
			domain.StockChange{Op: domain.OpCreate, Row: row1, SourceTsMs: 1700000000000}},
		{"ids at the int64 limit", bareEvent("c", "null", stockWith("product_id", "9223372036854775807")),
			domain.StockChange{Op: domain.OpCreate, Row: domain.StockRow{ProductID: math.MaxInt64, WarehouseID: 7, QtySalable: 15, Version: 1001}, SourceTsMs: tsMs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debezium.DecodeStock([]byte(tt.value))
			if err != nil {
				t.Fatalf("DecodeStock: %v\n%s", err, tt.value)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeStockVersion(t *testing.T) {
	tests := []struct {
		version string
		want    uint64
		wantErr string
	}{
		{"0", 0, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		// Written as unsigned by a producer that knows the column is.
		{"9223372036854775808", 1 << 63, ""},
		{"18446744073709551615", math.MaxUint64, ""},
		// Debezium's default long mode wraps values above 2^63-1.
		{"-1", math.MaxUint64, ""},
		{"-9223372036854775808", 1 << 63, ""},
		{"-9223372036854775807", 1<<63 + 1, ""},
		{"18446744073709551616", 0, "stock_items event: after.version: out of range"},
		{"-9223372036854775809", 0, "stock_items event: after.version: out of range"},
		{"99999999999999999999999", 0, "stock_items event: after.version: out of range"},
		{"1e3", 0, "stock_items event: after.version: not an integer"},
		{"1001.0", 0, "stock_items event: after.version: not an integer"},
		{`"1001"`, 0, "stock_items event: after.version: not an integer"},
		{"true", 0, "stock_items event: after.version: not an integer"},
		{"null", 0, "stock_items event: after.version: is null"},
		{"", 0, "stock_items event: after.version: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			for _, value := range []string{
				bareEvent("u", "null", stockWith("version", tt.version)),
				wrappedEvent(bareEvent("u", "null", stockWith("version", tt.version))),
			} {
				got, err := debezium.DecodeStock([]byte(value))
				if tt.wantErr != "" {
					if err == nil || err.Error() != tt.wantErr {
						t.Fatalf("err = %v, want %q", err, tt.wantErr)
					}
					if !errors.Is(err, debezium.ErrMalformed) {
						t.Errorf("err %v does not wrap ErrMalformed", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Row.Version != tt.want {
					t.Errorf("version = %d, want %d", got.Row.Version, tt.want)
				}
			}
		})
	}
	// The flattened form names the path "row".
	_, err := debezium.DecodeStock([]byte(flatRow(stockWith("version", "1.5"), `"__op":"u"`)))
	if err == nil || err.Error() != "stock_items event: row.version: not an integer" {
		t.Errorf("flattened err = %v", err)
	}
}

func TestDecodeStockBadRows(t *testing.T) {
	tests := []struct {
		name, value, wantErr string
	}{
		{"id as exponent", bareEvent("c", "null", stockWith("product_id", "1e3")), "stock_items event: after.product_id: not an integer"},
		{"qty with fraction", bareEvent("c", "null", stockWith("qty_salable", "1.5")), "stock_items event: after.qty_salable: not an integer"},
		{"qty as string", bareEvent("c", "null", stockWith("qty_salable", `"15"`)), "stock_items event: after.qty_salable: not an integer"},
		{"qty above int32", bareEvent("c", "null", stockWith("qty_salable", "2147483648")), "stock_items event: after.qty_salable: out of range"},
		{"qty below int32", bareEvent("c", "null", stockWith("qty_salable", "-2147483649")), "stock_items event: after.qty_salable: out of range"},
		{"qty missing on create", bareEvent("c", "null", stockWith("qty_salable", "")), "stock_items event: after.qty_salable: missing"},
		{"qty null on update", bareEvent("u", "null", stockWith("qty_salable", "null")), "stock_items event: after.qty_salable: is null"},
		{"product id missing", bareEvent("c", "null", stockWith("product_id", "")), "stock_items event: after.product_id: missing"},
		{"warehouse id missing", bareEvent("d", stockWith("warehouse_id", ""), "null"), "stock_items event: before.warehouse_id: missing"},
		{"version missing on delete", bareEvent("d", stockWith("version", ""), "null"), "stock_items event: before.version: missing"},
		{"product id zero", bareEvent("c", "null", stockWith("product_id", "0")), "stock_items event: after.product_id: must be a positive integer"},
		{"product id negative", bareEvent("c", "null", stockWith("product_id", "-4")), "stock_items event: after.product_id: must be a positive integer"},
		{"product id null", bareEvent("c", "null", stockWith("product_id", "null")), "stock_items event: after.product_id: is null"},
		{"product id beyond int64", bareEvent("c", "null", stockWith("product_id", "9223372036854775808")), "stock_items event: after.product_id: out of range"},
		{"updated_at as float", bareEvent("c", "null", stockWith("updated_at", "1.5")), "stock_items event: after.updated_at: not an integer"},
		{"flattened id as string", flatRow(stockWith("warehouse_id", `"7"`), `"__op":"c"`), "stock_items event: row.warehouse_id: not an integer"},
		{"create without after", bareEvent("c", stockRow1, "null"), `stock_items event: after: missing for op "c"`},
		{"read without after", bareEvent("r", "null", "null"), `stock_items event: after: missing for op "r"`},
		{"update without after", bareEvent("u", stockRow1, "null"), `stock_items event: after: missing for op "u"`},
		{"delete without before", bareEvent("d", "null", stockRow1), `stock_items event: before: missing for op "d"`},
		{"after not an object", bareEvent("c", "null", "[1]"), "stock_items event: after: not an object or null"},
		{"before a string", bareEvent("d", `"x"`, "null"), "stock_items event: before: not an object or null"},
		{"unknown op", bareEvent("x", "null", stockRow1), `stock_items event: op: unknown operation "x"`},
		{"op not a string", `{"op":1,"after":` + stockRow1 + `}`, "stock_items event: op: not a string"},
		{"op missing", `{"before":null,"after":` + stockRow1 + `}`, "stock_items event: op: missing"},
		{"unknown __op", flatRow(stockRow1, `"__op":"z"`), `stock_items event: __op: unknown operation "z"`},
		{"bad __deleted", flatRow(stockRow1, `"__deleted":"maybe"`), "stock_items event: __deleted: not a boolean or 0/1"},
		{"source not an object", `{"op":"c","after":` + stockRow1 + `,"source":"mysql"}`, "stock_items event: source: not an object or null"},
		{"source ts_ms float", `{"op":"c","after":` + stockRow1 + `,"source":{"ts_ms":1.5}}`, "stock_items event: source.ts_ms: not an integer"},
		{"source db number", `{"op":"c","after":` + stockRow1 + `,"source":{"db":5}}`, "stock_items event: source.db: not a string"},
		{"source snapshot number", `{"op":"c","after":` + stockRow1 + `,"source":{"snapshot":1}}`, "stock_items event: source.snapshot: not a string or boolean"},
		{"ts_ms string", `{"op":"c","after":` + stockRow1 + `,"ts_ms":"now"}`, "stock_items event: ts_ms: not an integer"},
		{"schema a string", `{"schema":"s","payload":` + bareEvent("c", "null", stockRow1) + `}`, "stock_items event: schema: not an object or null"},
		{"payload an array", `{"schema":null,"payload":[]}`, "stock_items event: payload: not an object"},
		{"empty object", `{}`, "stock_items event: empty object"},
		{"array", `[1,2]`, "stock_items event: value is not a JSON object"},
		{"number", `42`, "stock_items event: value is not a JSON object"},
		{"string", `"c"`, "stock_items event: value is not a JSON object"},
		{"null then more", `null x`, "stock_items event: value is not a JSON object"},
		{"truncated", bareEvent("c", "null", stockRow1)[:60], ""},
		{"trailing data", bareEvent("c", "null", stockRow1) + "x", ""},
		{"two objects", stockRow1 + stockRow1, ""},
		{"trailing comma", `{"op":"c","after":` + stockRow1 + `,}`, ""},
		{"single quotes", `{'op':'c'}`, ""},
		{"control character in string", "{\"op\":\"c\x01\"}", ""},
		{"bad escape", `{"op":"\q"}`, ""},
		{"leading zero", `{"op":"c","after":{"product_id":042}}`, ""},
		{"bare minus", `{"op":"c","after":{"product_id":-}}`, ""},
		{"binary", "\x00\xff\xfe", ""},
		{"deep nesting", `{"op":"c","after":` + stockRow1 + `,"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debezium.DecodeStock([]byte(tt.value))
			if err == nil {
				t.Fatalf("decoded %+v, want an error", got)
			}
			if !errors.Is(err, debezium.ErrMalformed) {
				t.Errorf("err %v does not wrap ErrMalformed", err)
			}
			if errors.Is(err, debezium.ErrTombstone) || errors.Is(err, debezium.ErrNotRowEvent) {
				t.Errorf("err %v is a skip sentinel", err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("err = %q\nwant  %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && !strings.HasPrefix(err.Error(), "stock_items event: invalid JSON at offset ") {
				t.Errorf("err = %q, want a JSON syntax error with its offset", err)
			}
		})
	}
}

func TestDecodeSkipSentinels(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  error
	}{
		{"nil value", "", debezium.ErrTombstone},
		{"white space", " \n", debezium.ErrTombstone},
		{"JSON null", "null", debezium.ErrTombstone},
		{"JSON null with space", " null\n", debezium.ErrTombstone},
		{"wrapper of nulls", `{"schema":null,"payload":null}`, debezium.ErrTombstone},
		{"transaction BEGIN", `{"status":"BEGIN","id":"0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10","ts_ms":1,"event_count":null,"data_collections":null}`, debezium.ErrNotRowEvent},
		{"transaction END wrapped", `{"schema":{},"payload":{"status":"END","id":"x:1","ts_ms":1,"event_count":2,"data_collections":[]}}`, debezium.ErrNotRowEvent},
		{"heartbeat", `{"ts_ms":1700000000000}`, debezium.ErrNotRowEvent},
		{"schema change", `{"source":{"server":"gintoki"},"databaseName":"inventory","ddl":"ALTER TABLE x","tableChanges":[]}`, debezium.ErrNotRowEvent},
		{"logical message op", `{"op":"m","source":{},"message":{"prefix":"p"}}`, debezium.ErrNotRowEvent},
		{"noop op", `{"op":"n","source":{}}`, debezium.ErrNotRowEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var value []byte
			if tt.value != "" {
				value = []byte(tt.value)
			}
			if _, err := debezium.DecodeStock(value); !errors.Is(err, tt.want) {
				t.Errorf("DecodeStock err = %v, want %v", err, tt.want)
			}
			if _, err := debezium.DecodeWarehouse(value); !errors.Is(err, tt.want) {
				t.Errorf("DecodeWarehouse err = %v, want %v", err, tt.want)
			}
			if _, err := debezium.DecodeEnvelope(value); !errors.Is(err, tt.want) {
				t.Errorf("DecodeEnvelope err = %v, want %v", err, tt.want)
			}
		})
	}
}

const warehouseRow = `{"id":3,"code":"WH-3","name":"North","is_active":1,"version":77,"updated_at":1700000000123456}`

var wh3 = domain.Warehouse{ID: 3, Code: "WH-3", Name: "North", Active: true, Version: 77}

func TestDecodeWarehouse(t *testing.T) {
	const tsMs = 1700000000123
	with := func(member, value string) string {
		return strings.Replace(warehouseRow, `"`+member+`":`+map[string]string{
			"id": "3", "code": `"WH-3"`, "name": `"North"`, "is_active": "1", "version": "77",
		}[member], `"`+member+`":`+value, 1)
	}
	inactive := wh3
	inactive.Active = false
	tests := []struct {
		name  string
		value string
		want  domain.WarehouseChange
	}{
		{"create bare", bareEvent("c", "null", warehouseRow), domain.WarehouseChange{Op: domain.OpCreate, Row: wh3, SourceTsMs: tsMs}},
		{"create wrapped", wrappedEvent(bareEvent("c", "null", warehouseRow)), domain.WarehouseChange{Op: domain.OpCreate, Row: wh3, SourceTsMs: tsMs}},
		{"create flattened", flatRow(warehouseRow, `"__op":"c","__source_ts_ms":9`), domain.WarehouseChange{Op: domain.OpCreate, Row: wh3, SourceTsMs: 9}},
		{"delete bare", bareEvent("d", warehouseRow, "null"), domain.WarehouseChange{Op: domain.OpDelete, Row: wh3, SourceTsMs: tsMs}},
		{"delete flattened", flatRow(warehouseRow, `"__deleted":"true"`), domain.WarehouseChange{Op: domain.OpDelete, Row: wh3}},
		{"delete with only id and version", bareEvent("d", `{"id":3,"version":77}`, "null"),
			domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 3, Version: 77}, SourceTsMs: tsMs}},
		{"truncate", bareEvent("t", "null", "null"), domain.WarehouseChange{Op: domain.OpTruncate, SourceTsMs: tsMs}},
		{"is_active 0", bareEvent("u", "null", with("is_active", "0")), domain.WarehouseChange{Op: domain.OpUpdate, Row: inactive, SourceTsMs: tsMs}},
		{"is_active true", bareEvent("u", "null", with("is_active", "true")), domain.WarehouseChange{Op: domain.OpUpdate, Row: wh3, SourceTsMs: tsMs}},
		{"is_active false", bareEvent("u", "null", with("is_active", "false")), domain.WarehouseChange{Op: domain.OpUpdate, Row: inactive, SourceTsMs: tsMs}},
		{`is_active "1"`, bareEvent("u", "null", with("is_active", `"1"`)), domain.WarehouseChange{Op: domain.OpUpdate, Row: wh3, SourceTsMs: tsMs}},
		{`is_active "0"`, bareEvent("u", "null", with("is_active", `"0"`)), domain.WarehouseChange{Op: domain.OpUpdate, Row: inactive, SourceTsMs: tsMs}},
		{`is_active "true"`, bareEvent("u", "null", with("is_active", `"true"`)), domain.WarehouseChange{Op: domain.OpUpdate, Row: wh3, SourceTsMs: tsMs}},
		{`is_active "false"`, bareEvent("u", "null", with("is_active", `"false"`)), domain.WarehouseChange{Op: domain.OpUpdate, Row: inactive, SourceTsMs: tsMs}},
		{"is_active other non-zero TINYINT", bareEvent("u", "null", with("is_active", "2")), domain.WarehouseChange{Op: domain.OpUpdate, Row: wh3, SourceTsMs: tsMs}},
		{"name null", bareEvent("u", "null", with("name", "null")),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "WH-3", Active: true, Version: 77}, SourceTsMs: tsMs}},
		{"escapes in strings", bareEvent("u", "null", with("code", `"W\u00e9st\"\\\/\n"`)),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "Wést\"\\/\n", Name: "North", Active: true, Version: 77}, SourceTsMs: tsMs}},
		{"surrogate pair", bareEvent("u", "null", with("name", `"\ud83d\udce6 box"`)),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "WH-3", Name: "📦 box", Active: true, Version: 77}, SourceTsMs: tsMs}},
		{"lone surrogate", bareEvent("u", "null", with("name", `"a\ud83db"`)),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "WH-3", Name: "a\uFFFDb", Active: true, Version: 77}, SourceTsMs: tsMs}},
		{"invalid UTF-8 replaced", bareEvent("u", "null", with("name", "\"a\xffb\"")),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "WH-3", Name: "a\uFFFDb", Active: true, Version: 77}, SourceTsMs: tsMs}},
		{"wrapped version", bareEvent("u", "null", with("version", "-2")),
			domain.WarehouseChange{Op: domain.OpUpdate, Row: domain.Warehouse{ID: 3, Code: "WH-3", Name: "North", Active: true, Version: math.MaxUint64 - 1}, SourceTsMs: tsMs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debezium.DecodeWarehouse([]byte(tt.value))
			if err != nil {
				t.Fatalf("DecodeWarehouse: %v\n%s", err, tt.value)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	bad := []struct{ name, value, wantErr string }{
		{"is_active null", bareEvent("u", "null", with("is_active", "null")), "warehouses event: after.is_active: is null"},
		{"is_active word", bareEvent("u", "null", with("is_active", `"yes"`)), "warehouses event: after.is_active: not a boolean or 0/1"},
		{"is_active float", bareEvent("u", "null", with("is_active", "0.5")), "warehouses event: after.is_active: not a boolean or 0/1"},
		{"is_active object", bareEvent("u", "null", with("is_active", "{}")), "warehouses event: after.is_active: not a boolean or 0/1"},
		{"is_active missing", bareEvent("c", "null", `{"id":3,"code":"WH-3","version":77}`), "warehouses event: after.is_active: missing"},
		{"code missing", bareEvent("c", "null", `{"id":3,"is_active":1,"version":77}`), "warehouses event: after.code: missing"},
		{"code null", bareEvent("c", "null", with("code", "null")), "warehouses event: after.code: is null"},
		{"code number", bareEvent("c", "null", with("code", "3")), "warehouses event: after.code: not a string"},
		{"name number", bareEvent("c", "null", with("name", "3")), "warehouses event: after.name: not a string"},
		{"id missing", bareEvent("d", `{"version":77}`, "null"), "warehouses event: before.id: missing"},
		{"id float", bareEvent("c", "null", with("id", "3.0")), "warehouses event: after.id: not an integer"},
		{"version missing", bareEvent("d", `{"id":3}`, "null"), "warehouses event: before.version: missing"},
		{"version exponent", flatRow(with("version", "7e1"), ""), "warehouses event: row.version: not an integer"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debezium.DecodeWarehouse([]byte(tt.value))
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("got %+v, err %v; want %q", got, err, tt.wantErr)
			}
			if !errors.Is(err, debezium.ErrMalformed) {
				t.Errorf("err %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestDecodeEnvelopeForms(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		form     debezium.Form
		wrapped  bool
		snapshot string
		table    string
	}{
		{"bare", bareEvent("c", "null", stockRow1), debezium.FormBare, false, "false", "stock_items"},
		{"wrapped", wrappedEvent(bareEvent("c", "null", stockRow1)), debezium.FormWrapped, true, "false", "stock_items"},
		{"wrapped with null schema", `{"schema":null,"payload":` + bareEvent("c", "null", stockRow1) + `}`, debezium.FormWrapped, true, "false", "stock_items"},
		{"payload before schema", `{"payload":` + bareEvent("c", "null", stockRow1) + `,"schema":{}}`, debezium.FormWrapped, true, "false", "stock_items"},
		{"flattened", flatRow(stockRow1, `"__op":"c","__table":"stock_items","__source_snapshot":"incremental"`), debezium.FormFlattened, false, "incremental", "stock_items"},
		{"flattened wrapped", wrappedEvent(flatRow(stockRow1, `"__source_table":"t2","__source_snapshot":false`)), debezium.FormFlattened, true, "false", "t2"},
		{"source without snapshot defaults to false", `{"op":"c","after":` + stockRow1 + `,"source":{"table":"x"}}`, debezium.FormBare, false, "false", "x"},
		{"no source, no snapshot", `{"op":"c","after":` + stockRow1 + `}`, debezium.FormBare, false, "", ""},
		{"snapshot first", strings.Replace(bareEvent("r", "null", stockRow1), `"snapshot":"false"`, `"snapshot":"first"`, 1), debezium.FormBare, false, "first", "stock_items"},
		{"snapshot incremental", strings.Replace(bareEvent("r", "null", stockRow1), `"snapshot":"false"`, `"snapshot":"incremental"`, 1), debezium.FormBare, false, "incremental", "stock_items"},
		{"snapshot false bool", strings.Replace(bareEvent("u", "null", stockRow1), `"snapshot":"false"`, `"snapshot":false`, 1), debezium.FormBare, false, "false", "stock_items"},
		{"snapshot null", strings.Replace(bareEvent("u", "null", stockRow1), `"snapshot":"false"`, `"snapshot":null`, 1), debezium.FormBare, false, "false", "stock_items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := debezium.DecodeEnvelope([]byte(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			if env.Form != tt.form || env.Wrapped != tt.wrapped || env.Source.Snapshot != tt.snapshot || env.Source.Table != tt.table {
				t.Errorf("form %v wrapped %v snapshot %q table %q; want %v %v %q %q",
					env.Form, env.Wrapped, env.Source.Snapshot, env.Source.Table, tt.form, tt.wrapped, tt.snapshot, tt.table)
			}
		})
	}
}

func TestFormString(t *testing.T) {
	for f, want := range map[debezium.Form]string{
		debezium.FormWrapped: "wrapped", debezium.FormBare: "bare", debezium.FormFlattened: "flattened", 0: "unknown",
	} {
		if f.String() != want {
			t.Errorf("Form(%d).String() = %q, want %q", f, f.String(), want)
		}
	}
}

func TestDecodeKeys(t *testing.T) {
	stockKeys := []struct {
		name, key string
		pid, wid  int64
		wantErr   string
	}{
		{"bare", `{"product_id":42,"warehouse_id":7}`, 42, 7, ""},
		{"wrapped", `{"schema":{"type":"struct","name":"gintoki.inventory.stock_items.Key"},"payload":{"warehouse_id":7,"product_id":42}}`, 42, 7, ""},
		{"extra columns ignored", `{"product_id":42,"warehouse_id":7,"x":[1]}`, 42, 7, ""},
		{"missing warehouse", `{"product_id":42}`, 0, 0, "stock_items key: warehouse_id: missing"},
		{"missing product", `{"schema":null,"payload":{"warehouse_id":7}}`, 0, 0, "stock_items key: product_id: missing"},
		{"id as string", `{"product_id":"42","warehouse_id":7}`, 0, 0, "stock_items key: product_id: not an integer"},
		{"id zero", `{"product_id":42,"warehouse_id":0}`, 0, 0, "stock_items key: warehouse_id: must be a positive integer"},
		{"null key", ``, 0, 0, "stock_items key: key is null"},
		{"JSON null key", `null`, 0, 0, "stock_items key: key is null"},
		{"null payload", `{"schema":null,"payload":null}`, 0, 0, "stock_items key: payload: key is null"},
		{"array", `[42,7]`, 0, 0, "stock_items key: key is not a JSON object"},
		{"payload a number", `{"payload":42}`, 0, 0, "stock_items key: payload: not an object"},
		{"broken", `{"product_id":42,`, 0, 0, ""},
		{"trailing", `{"product_id":42,"warehouse_id":7}]`, 0, 0, ""},
	}
	for _, tt := range stockKeys {
		t.Run("stock "+tt.name, func(t *testing.T) {
			pid, wid, err := debezium.DecodeStockKey([]byte(tt.key))
			if tt.pid != 0 {
				if err != nil || pid != tt.pid || wid != tt.wid {
					t.Fatalf("got %d, %d, %v; want %d, %d", pid, wid, err, tt.pid, tt.wid)
				}
				return
			}
			if err == nil || !errors.Is(err, debezium.ErrMalformed) {
				t.Fatalf("got %d, %d, %v; want a malformed error", pid, wid, err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("err = %q, want %q", err, tt.wantErr)
			}
		})
	}

	whKeys := []struct {
		name, key string
		id        int64
		wantErr   string
	}{
		{"bare", `{"id":3}`, 3, ""},
		{"wrapped", `{"schema":{},"payload":{"id":3}}`, 3, ""},
		{"missing", `{"code":"x"}`, 0, "warehouses key: id: missing"},
		{"negative", `{"id":-3}`, 0, "warehouses key: id: must be a positive integer"},
		{"float", `{"id":3.5}`, 0, "warehouses key: id: not an integer"},
		{"string", `"3"`, 0, "warehouses key: key is not a JSON object"},
	}
	for _, tt := range whKeys {
		t.Run("warehouse "+tt.name, func(t *testing.T) {
			id, err := debezium.DecodeWarehouseKey([]byte(tt.key))
			if tt.id != 0 {
				if err != nil || id != tt.id {
					t.Fatalf("got %d, %v; want %d", id, err, tt.id)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, debezium.ErrMalformed) {
				t.Fatalf("got %d, %v; want %q", id, err, tt.wantErr)
			}
		})
	}
}

// The stock decoder is the hot path: a stock_items event must decode without
// allocating, whatever its form (its source GTID too: parseGTID reads it in
// place).
func TestDecodeStockDoesNotAllocate(t *testing.T) {
	for _, value := range []string{
		bareEvent("u", stockRow1, stockRow2),
		wrappedEvent(bareEvent("u", stockRow1, stockRow2)),
		flatRow(stockRow2, `"__op":"u","__table":"stock_items","__source_ts_ms":1,"__deleted":"false"`),
	} {
		b := []byte(value)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := debezium.DecodeStock(b); err != nil {
				t.Fatal(err)
			}
		})
		// Under the race detector sync.Pool drops what it is given at
		// random, so the pooled JSON decoders are made again now and then.
		if allocs != 0 && !raceEnabled {
			t.Errorf("DecodeStock allocates %.0f times for %.40s...", allocs, value)
		}
	}
}

// A table's schema is the same in each of its wrapped events, so once read
// it is not checked again; what follows it still is, in full.
func TestWrappedEventsWithAKnownSchema(t *testing.T) {
	value := wrappedEvent(bareEvent("c", "null", stockRow1))
	schema := value[len(`{"schema":`):strings.Index(value, `,"payload":`)]
	for i := 0; i < 2; i++ { // the second time the schema is known
		got, err := debezium.DecodeStock([]byte(value))
		if err != nil || got != (domain.StockChange{Op: domain.OpCreate, Row: row1, SourceTsMs: 1700000000123}) {
			t.Fatalf("pass %d: %+v, %v", i, got, err)
		}
		if env, err := debezium.DecodeEnvelope([]byte(value)); err != nil || env.Form != debezium.FormWrapped {
			t.Fatalf("pass %d: envelope %+v, %v", i, env, err)
		}
	}
	bad := strings.Replace(value, `"qty_salable":15`, `"qty_salable":15x`, 1)
	want := fmt.Sprintf("stock_items event: invalid JSON at offset %d: ", strings.Index(bad, "15x")+2)
	if _, err := debezium.DecodeStock([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("broken payload: %v, want %q...", err, want)
	}
	// More members than schema and payload: no wrapper, but a row with
	// columns of those names.
	if env, err := debezium.DecodeEnvelope([]byte(strings.TrimSuffix(value, "}") + `,"x":1}`)); err != nil || env.Form != debezium.FormFlattened || env.Wrapped {
		t.Errorf("three members: %+v, %v", env, err)
	}
	for _, v := range []string{`{"schema":` + schema + `,"payload":null}`, `{"schema":` + schema + `,"payload":[1]}`} {
		_, err := debezium.DecodeStock([]byte(v))
		if v[len(v)-2] == 'l' && !errors.Is(err, debezium.ErrTombstone) || v[len(v)-2] == ']' && err.Error() != "stock_items event: payload: not an object" {
			t.Errorf("%s: %v", v[len(v)-20:], err)
		}
	}
}
