package debezium_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// encodeOne writes a create event of a table (id, v) and returns after.v.
func encodeOne(t *testing.T, col relay.Column, v []byte) (json.RawMessage, error) {
	t.Helper()
	col.Name = "v"
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "db", Name: "t", Columns: []relay.Column{{Name: "id", Type: "bigint"}, col}, Key: []int{0}})
	if err != nil {
		return nil, err
	}
	out, err := codec.EncodeEvent(domain.OpCreate, nil, [][]byte{[]byte("1"), v}, debezium.Source{Name: "p", DB: "db", Table: "t"}, time.Unix(1, 0), false)
	if err != nil {
		return nil, err
	}
	var env struct {
		After map[string]json.RawMessage `json:"after"`
	}
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("encoded event is not JSON: %v: %s", err, out)
	}
	return env.After["v"], nil
}

// TestRowCodecWritesValuesAsDebeziumDoes covers the default converters
// (time.precision.mode=adaptive_time_microseconds, decimal.handling.mode=
// precise, bigint.unsigned.handling.mode=long, binary.handling.mode=bytes).
func TestRowCodecWritesValuesAsDebeziumDoes(t *testing.T) {
	type col = relay.Column
	cases := []struct {
		name string
		col  col
		in   string
		null bool
		want string
	}{
		{name: "tinyint", col: col{Type: "tinyint"}, in: "-5", want: "-5"},
		{name: "tinyint(1)", col: col{Type: "tinyint", Width: 1}, in: "1", want: "1"},
		{name: "tinyint unsigned", col: col{Type: "tinyint", Unsigned: true}, in: "255", want: "255"},
		{name: "smallint unsigned", col: col{Type: "smallint", Unsigned: true}, in: "65535", want: "65535"},
		{name: "int", col: col{Type: "int"}, in: "-2147483648", want: "-2147483648"},
		{name: "int unsigned", col: col{Type: "int", Unsigned: true}, in: "4294967295", want: "4294967295"},
		{name: "bigint min", col: col{Type: "bigint"}, in: "-9223372036854775808", want: "-9223372036854775808"},
		{name: "bigint unsigned max as long", col: col{Type: "bigint", Unsigned: true}, in: "18446744073709551615", want: "-1"},
		{name: "bigint unsigned 2^63 as long", col: col{Type: "bigint", Unsigned: true}, in: "9223372036854775808", want: "-9223372036854775808"},
		{name: "bigint unsigned small", col: col{Type: "bigint", Unsigned: true}, in: "42", want: "42"},
		{name: "float", col: col{Type: "float"}, in: "1.5", want: "1.5"},
		{name: "double", col: col{Type: "double"}, in: "2.25", want: "2.25"},
		{name: "double exponent", col: col{Type: "double"}, in: "1e20", want: "1e+20"},
		{name: "decimal negative", col: col{Type: "decimal", Precision: 10, Scale: 2}, in: "-12345678.90", want: `"tmn9Lg=="`},
		{name: "decimal zero", col: col{Type: "decimal", Precision: 10, Scale: 2}, in: "0.00", want: `"AA=="`},
		{name: "decimal sign byte", col: col{Type: "decimal", Precision: 10, Scale: 2}, in: "1.5", want: `"AJY="`},
		{name: "decimal -1", col: col{Type: "decimal", Precision: 5}, in: "-1", want: `"/w=="`},
		{name: "decimal -128", col: col{Type: "decimal", Precision: 5}, in: "-128", want: `"gA=="`},
		{name: "decimal -129", col: col{Type: "decimal", Precision: 5}, in: "-129", want: `"/38="`},
		{name: "decimal 128", col: col{Type: "decimal", Precision: 5}, in: "128", want: `"AIA="`},
		{name: "decimal wide", col: col{Type: "decimal", Precision: 30}, in: "12345678901234567890", want: `"AKtUqYzrHwrS"`},
		{name: "bit(1) set", col: col{Type: "bit", Width: 1}, in: "\x01", want: "true"},
		{name: "bit(1) clear", col: col{Type: "bit", Width: 1}, in: "\x00", want: "false"},
		{name: "bit(10) little-endian", col: col{Type: "bit", Width: 10}, in: "\x02\x01", want: `"AQI="`},
		{name: "date", col: col{Type: "date"}, in: "2024-02-29", want: "19782"},
		{name: "date before epoch", col: col{Type: "date"}, in: "1969-12-31", want: "-1"},
		{name: "zero date not null", col: col{Type: "date"}, in: "0000-00-00", want: "0"},
		{name: "zero date nullable", col: col{Type: "date", Nullable: true}, in: "0000-00-00", want: "null"},
		{name: "datetime millis", col: col{Type: "datetime"}, in: "2024-01-02 03:04:05", want: "1704164645000"},
		{name: "datetime(3) millis", col: col{Type: "datetime", Scale: 3}, in: "2024-01-02 03:04:05.123", want: "1704164645123"},
		{name: "datetime(6) micros", col: col{Type: "datetime", Scale: 6}, in: "2024-01-02 03:04:05.123456", want: "1704164645123456"},
		{name: "datetime(4) micros", col: col{Type: "datetime", Scale: 4}, in: "2024-01-02 03:04:05.1234", want: "1704164645123400"},
		{name: "datetime(6) before epoch", col: col{Type: "datetime", Scale: 6}, in: "1969-12-31 23:59:59.999999", want: "-1"},
		{name: "timestamp", col: col{Type: "timestamp"}, in: "2024-01-02 03:04:05", want: `"2024-01-02T03:04:05Z"`},
		{name: "timestamp(3)", col: col{Type: "timestamp", Scale: 3}, in: "2024-01-02 03:04:05.5", want: `"2024-01-02T03:04:05.500Z"`},
		{name: "zero timestamp not null", col: col{Type: "timestamp"}, in: "0000-00-00 00:00:00", want: `"1970-01-01T00:00:00Z"`},
		{name: "time(6) negative", col: col{Type: "time", Scale: 6}, in: "-12:34:56.789012", want: "-45296789012"},
		{name: "time beyond a day", col: col{Type: "time"}, in: "838:59:59", want: "3020399000000"},
		{name: "year", col: col{Type: "year"}, in: "2024", want: "2024"},
		{name: "varchar", col: col{Type: "varchar"}, in: "héllo \"q\"\n😀", want: `"héllo \"q\"\n😀"`},
		{name: "empty string", col: col{Type: "char"}, in: "", want: `""`},
		{name: "varbinary", col: col{Type: "varbinary"}, in: "\x00\xff", want: `"AP8="`},
		{name: "json", col: col{Type: "json"}, in: `{"a": 1}`, want: `"{\"a\": 1}"`},
		{name: "null", col: col{Type: "int", Nullable: true}, null: true, want: "null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v []byte
			if !tc.null {
				v = []byte(tc.in)
			}
			got, err := encodeOne(t, tc.col, v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("%q as %s: %s, want %s", tc.in, tc.col.Type, got, tc.want)
			}
		})
	}
}

func TestRowCodecRejects(t *testing.T) {
	type col = relay.Column
	for _, tc := range []struct {
		name string
		col  col
		in   string
	}{
		{"int text", col{Type: "int"}, "abc"},
		{"int fraction", col{Type: "bigint"}, "1.5"},
		{"unsigned negative", col{Type: "int", Unsigned: true}, "-1"},
		{"decimal text", col{Type: "decimal", Precision: 5, Scale: 2}, "1.2.3"},
		{"decimal too precise", col{Type: "decimal", Precision: 5, Scale: 2}, "1.234"},
		{"date text", col{Type: "date"}, "yesterday"},
		{"datetime fraction", col{Type: "datetime", Scale: 6}, "2024-01-02 03:04:05.x"},
		{"time text", col{Type: "time"}, "noon"},
		{"float text", col{Type: "double"}, "NaN"},
	} {
		if _, err := encodeOne(t, tc.col, []byte(tc.in)); err == nil || !strings.Contains(err.Error(), "column v") {
			t.Errorf("%s: %q encoded (err %v); want an error naming the column", tc.name, tc.in, err)
		}
	}
	for _, c := range []col{{Type: "enum"}, {Type: "set"}, {Type: "geometry"}, {Type: ""}, {Type: "decimal", Precision: 2, Scale: 3}} {
		if _, err := encodeOne(t, c, []byte("1")); err == nil {
			t.Errorf("type %q accepted", c.Type)
		}
	}
	if _, err := debezium.NewRowCodec(&relay.Table{DB: "db", Name: "t", Columns: []relay.Column{{Name: "id", Type: "int"}}, Key: []int{1}}); err == nil {
		t.Error("a key column that is not a column was accepted")
	}
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "db", Name: "t", Columns: []relay.Column{{Name: "id", Type: "int"}}, Key: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.EncodeEvent(domain.OpCreate, nil, [][]byte{[]byte("1"), []byte("2")}, debezium.Source{}, time.Now(), false); err == nil {
		t.Error("a row with more values than columns was accepted")
	}
	if _, err := codec.EncodeEvent(domain.OpDelete, nil, [][]byte{[]byte("1")}, debezium.Source{}, time.Now(), false); err == nil {
		t.Error("a delete without a before-image was accepted")
	}
	if _, err := codec.EncodeKey(debezium.Source{}, [][]byte{}, false); err == nil {
		t.Error("a key of an empty row was accepted")
	}
}

var stockColumns = []relay.Column{
	{Name: "product_id", Type: "bigint"}, {Name: "warehouse_id", Type: "bigint"}, {Name: "qty_salable", Type: "int"},
	{Name: "version", Type: "bigint", Unsigned: true}, {Name: "updated_at", Type: "datetime", Scale: 6},
}

// TestRowCodecMatchesTheStockEncoder: for stock_items the generic codec
// writes byte for byte what EncodeStock writes, with and without schema.
func TestRowCodecMatchesTheStockEncoder(t *testing.T) {
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "inventory", Name: "stock_items", Columns: stockColumns, Key: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	src := encSource
	src.Snapshot = "false"
	before := &domain.StockRow{ProductID: 7, WarehouseID: 3, QtySalable: 5, Version: 1 << 63}
	after := &domain.StockRow{ProductID: 7, WarehouseID: 3, QtySalable: -2, Version: 9}
	updated := "2024-01-02 03:04:05.123456"
	micros := int64(1704164645123456)
	text := func(r *domain.StockRow) [][]byte {
		return [][]byte{[]byte("7"), []byte("3"), []byte(strconv.Itoa(int(r.QtySalable))), []byte(strconv.FormatUint(r.Version, 10)), []byte(updated)}
	}
	for _, withSchema := range []bool{false, true} {
		want, err := debeziumtest.EncodeStock(domain.OpUpdate, before, after, src, withSchema, micros)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.EncodeEvent(domain.OpUpdate, text(before), text(after), src, time.UnixMilli(src.TsMs), withSchema)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("schema %v:\n got %s\nwant %s", withSchema, got, want)
		}
		wantKey, _ := debeziumtest.EncodeStockKey(src, 7, 3, withSchema)
		gotKey, err := codec.EncodeKey(src, text(after), withSchema)
		if err != nil || !bytes.Equal(gotKey, wantKey) {
			t.Errorf("key, schema %v: %s (%v), want %s", withSchema, gotKey, err, wantKey)
		}
	}
}

// TestRowCodecEventsDecode: every op, both forms, through the decoders
// the read nodes use.
func TestRowCodecEventsDecode(t *testing.T) {
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "inventory", Name: "stock_items", Columns: stockColumns, Key: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	row := [][]byte{[]byte("11"), []byte("2"), []byte("40"), []byte("18446744073709551615"), []byte("2024-01-02 03:04:05.000001")}
	processed := time.Unix(1700000001, 250_000_000)
	for _, withSchema := range []bool{false, true} {
		for _, tc := range []struct {
			op            domain.Op
			before, after [][]byte
			snapshot      string
		}{
			{domain.OpCreate, nil, row, ""},
			{domain.OpUpdate, row, row, ""},
			{domain.OpDelete, row, nil, ""},
			{domain.OpRead, nil, row, "last"},
		} {
			src := encSource
			src.Snapshot = tc.snapshot
			value, err := codec.EncodeEvent(tc.op, tc.before, tc.after, src, processed, withSchema)
			if err != nil {
				t.Fatal(err)
			}
			change, err := debezium.DecodeStock(value)
			if err != nil {
				t.Fatalf("%c schema %v: %v: %s", tc.op, withSchema, err, value)
			}
			if change.Op != tc.op || change.Row.ProductID != 11 || change.Row.WarehouseID != 2 || change.Row.Version != 1<<64-1 {
				t.Errorf("%c schema %v: decoded %+v", tc.op, withSchema, change)
			}
			if tc.op != domain.OpDelete && change.Row.QtySalable != 40 {
				t.Errorf("%c: qty %d", tc.op, change.Row.QtySalable)
			}
			env, err := debezium.DecodeEnvelope(value)
			if err != nil {
				t.Fatal(err)
			}
			wantSnap := tc.snapshot
			if wantSnap == "" {
				wantSnap = "false"
			}
			if env.Wrapped != withSchema || env.TsMs != processed.UnixMilli() || env.Source.Snapshot != wantSnap || env.Source.File != src.File || env.Source.Pos != src.Pos {
				t.Errorf("%c schema %v: envelope %+v", tc.op, withSchema, env)
			}
			key, err := codec.EncodeKey(src, row, withSchema)
			if err != nil {
				t.Fatal(err)
			}
			if p, w, err := debezium.DecodeStockKey(key); err != nil || p != 11 || w != 2 {
				t.Errorf("key %s: %d %d %v", key, p, w, err)
			}
		}
	}
}

// TestRowCodecSchema: logical types, parameters and optionality are in the
// schema Debezium writes with schemas.enable=true.
func TestRowCodecSchema(t *testing.T) {
	cols := []relay.Column{
		{Name: "id", Type: "bigint"},
		{Name: "price", Type: "decimal", Precision: 10, Scale: 2, Nullable: true},
		{Name: "flags", Type: "bit", Width: 10},
		{Name: "seen", Type: "timestamp", Scale: 3},
		{Name: "day", Type: "date"},
		{Name: "active", Type: "tinyint", Width: 1},
	}
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "sales", Name: "orders", Columns: cols, Key: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	row := [][]byte{[]byte("1"), nil, []byte("\x00\x01"), []byte("2024-01-02 03:04:05.000"), []byte("2024-01-02"), []byte("1")}
	value, err := codec.EncodeEvent(domain.OpCreate, nil, row, debezium.Source{Name: "shop", DB: "sales", Table: "orders"}, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema struct {
			Name   string
			Fields []struct {
				Field  string
				Name   string
				Fields []struct {
					Field      string
					Type       string
					Optional   bool
					Name       string
					Parameters map[string]string
				}
			}
		}
	}
	if err := json.Unmarshal(value, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema.Name != "shop.sales.orders.Envelope" || doc.Schema.Fields[1].Field != "after" || doc.Schema.Fields[1].Name != "shop.sales.orders.Value" {
		t.Fatalf("envelope schema %q, after %q %q", doc.Schema.Name, doc.Schema.Fields[1].Field, doc.Schema.Fields[1].Name)
	}
	type field struct {
		typ, name string
		optional  bool
		params    map[string]string
	}
	want := map[string]field{
		"id":     {typ: "int64"},
		"price":  {typ: "bytes", name: "org.apache.kafka.connect.data.Decimal", optional: true, params: map[string]string{"scale": "2", "connect.decimal.precision": "10"}},
		"flags":  {typ: "bytes", name: "io.debezium.data.Bits", params: map[string]string{"length": "10"}},
		"seen":   {typ: "string", name: "io.debezium.time.ZonedTimestamp"},
		"day":    {typ: "int32", name: "io.debezium.time.Date"},
		"active": {typ: "int16"},
	}
	for _, f := range doc.Schema.Fields[1].Fields {
		w := want[f.Field]
		if f.Type != w.typ || f.Name != w.name || f.Optional != w.optional || len(f.Parameters) != len(w.params) {
			t.Errorf("field %s: %s %q optional %v params %v; want %+v", f.Field, f.Type, f.Name, f.Optional, f.Parameters, w)
		}
		for k, v := range w.params {
			if f.Parameters[k] != v {
				t.Errorf("field %s parameter %s = %q, want %q", f.Field, k, f.Parameters[k], v)
			}
		}
	}
	if _, err := debezium.DecodeEnvelope(value); err != nil {
		t.Errorf("wrapped event does not decode: %v", err)
	}
}

func TestRowCodecWithoutPrimaryKey(t *testing.T) {
	codec, err := debezium.NewRowCodec(&relay.Table{DB: "db", Name: "log", Columns: []relay.Column{{Name: "msg", Type: "text"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := codec.EncodeKey(debezium.Source{Name: "p", DB: "db", Table: "log"}, [][]byte{[]byte("x")}, true)
	if err != nil || key != nil {
		t.Fatalf("key %s, %v; want a null key", key, err)
	}
}
