package debezium_test

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
)

var encSource = debezium.Source{
	Version: "3.7.0.Final", Name: "gintoki", DB: "inventory", Table: "stock_items",
	ServerID: 223344, File: "mysql-bin.000003", Pos: 805, Row: 2, TsMs: 1700000000123,
	GTID: "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10", Thread: 7,
}

// images returns the before/after pair an op carries, from an old and a new row.
func stockImages(op domain.Op, old, cur domain.StockRow) (before, after *domain.StockRow, want domain.StockRow) {
	switch op {
	case domain.OpCreate, domain.OpRead:
		return nil, &cur, cur
	case domain.OpUpdate:
		return &old, &cur, cur
	case domain.OpDelete:
		return &old, nil, old
	}
	return nil, nil, domain.StockRow{}
}

func TestStockRoundTrip(t *testing.T) {
	old := domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: 15, Version: 1001}
	versions := []uint64{1002, math.MaxInt64, 1 << 63, math.MaxUint64}
	for _, op := range []domain.Op{domain.OpCreate, domain.OpRead, domain.OpUpdate, domain.OpDelete, domain.OpTruncate} {
		for _, withSchema := range []bool{false, true} {
			for _, version := range versions {
				cur := domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: -3, Version: version}
				old.Version = version // a delete's before-image carries the version under test
				before, after, wantRow := stockImages(op, old, cur)
				name := op.String() + map[bool]string{false: "/bare", true: "/schema"}[withSchema]
				t.Run(name, func(t *testing.T) {
					src := encSource
					if op == domain.OpRead {
						src.Snapshot, src.Thread = "last", 0
					}
					value, err := debeziumtest.EncodeStock(op, before, after, src, withSchema, 1700000000123456)
					if err != nil {
						t.Fatal(err)
					}
					if !json.Valid(value) {
						t.Fatalf("invalid JSON: %s", value)
					}
					got, err := debezium.DecodeStock(value)
					if err != nil {
						t.Fatalf("DecodeStock: %v\n%s", err, value)
					}
					want := domain.StockChange{Op: op, Row: wantRow, SourceTsMs: src.TsMs, Sub: domain.SubOf(805, 2)}
					want.GTID, _ = domain.ParseGTID(src.GTID)
					if got != want {
						t.Errorf("got  %+v\nwant %+v", got, want)
					}
					env, err := debezium.DecodeEnvelope(value)
					if err != nil {
						t.Fatal(err)
					}
					wantForm := debezium.FormBare
					if withSchema {
						wantForm = debezium.FormWrapped
					}
					if env.Form != wantForm || env.Wrapped != withSchema || env.Op != op || env.TsMs != src.TsMs {
						t.Errorf("form %v wrapped %v op %v ts_ms %d", env.Form, env.Wrapped, env.Op, env.TsMs)
					}
					if (env.Before != nil) != (before != nil) || (env.After != nil) != (after != nil) {
						t.Errorf("images before %s after %s", env.Before, env.After)
					}
					wantSrc := debezium.SourceInfo{
						Version: src.Version, Connector: "mysql", Name: src.Name, DB: src.DB, Table: src.Table,
						Snapshot: src.Snapshot, TsMs: src.TsMs, ServerID: src.ServerID, GTID: src.GTID,
						File: src.File, Pos: src.Pos, Row: int64(src.Row), Thread: src.Thread,
					}
					if wantSrc.Snapshot == "" {
						wantSrc.Snapshot = "false"
					}
					if env.Source != wantSrc {
						t.Errorf("source %+v\nwant   %+v", env.Source, wantSrc)
					}
				})
			}
		}
	}
}

func TestWarehouseRoundTrip(t *testing.T) {
	old := domain.Warehouse{ID: 3, Code: "WH-3", Name: "North", Active: true, Version: 76}
	cur := domain.Warehouse{ID: 3, Code: "WH-3", Name: "Nörth \"quoted\" \\ \n\t\x01 📦", Active: false, Version: math.MaxUint64 - 5}
	for _, tt := range []struct {
		op            domain.Op
		before, after *domain.Warehouse
		want          domain.Warehouse
	}{
		{domain.OpCreate, nil, &cur, cur},
		{domain.OpRead, nil, &old, old},
		{domain.OpUpdate, &old, &cur, cur},
		{domain.OpDelete, &cur, nil, cur},
		{domain.OpTruncate, nil, nil, domain.Warehouse{}},
	} {
		for _, withSchema := range []bool{false, true} {
			value, err := debeziumtest.EncodeWarehouse(tt.op, tt.before, tt.after, encSource, withSchema, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(value) {
				t.Fatalf("invalid JSON: %s", value)
			}
			got, err := debezium.DecodeWarehouse(value)
			if err != nil {
				t.Fatalf("%v schema=%v: %v", tt.op, withSchema, err)
			}
			want := domain.WarehouseChange{Op: tt.op, Row: tt.want, SourceTsMs: encSource.TsMs, Sub: domain.SubOf(805, 2)}
			want.GTID, _ = domain.ParseGTID(encSource.GTID)
			if got != want {
				t.Errorf("%v schema=%v:\ngot  %+v\nwant %+v", tt.op, withSchema, got, want)
			}
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, withSchema := range []bool{false, true} {
		k, err := debeziumtest.EncodeStockKey(debezium.Source{}, math.MaxInt64, 7, withSchema)
		if err != nil {
			t.Fatal(err)
		}
		pid, wid, err := debezium.DecodeStockKey(k)
		if err != nil || pid != math.MaxInt64 || wid != 7 {
			t.Errorf("stock key %s: %d %d %v", k, pid, wid, err)
		}
		k, err = debeziumtest.EncodeWarehouseKey(encSource, 3, withSchema)
		if err != nil {
			t.Fatal(err)
		}
		id, err := debezium.DecodeWarehouseKey(k)
		if err != nil || id != 3 {
			t.Errorf("warehouse key %s: %d %v", k, id, err)
		}
	}
}

// decodeJSON unmarshals into generic values for shape checks.
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The encoder must write the shape the documentation's update event has
// (mysql-update-no-schema.json: today's source layout, schemas off).
func TestEncodeMatchesFixtureShape(t *testing.T) {
	fixture := decodeJSON(t, readFixture(t, "mysql-update-no-schema.json"))
	row := domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 3, Version: 4}
	value, err := debeziumtest.EncodeStock(domain.OpUpdate, &row, &row, encSource, false, 5)
	if err != nil {
		t.Fatal(err)
	}
	ours := decodeJSON(t, value)
	if a, b := keysOf(ours), keysOf(fixture); !slices.Equal(a, b) {
		t.Errorf("envelope members %v, fixture %v", a, b)
	}
	if a, b := keysOf(ours["source"].(map[string]any)), keysOf(fixture["source"].(map[string]any)); !slices.Equal(a, b) {
		t.Errorf("source members %v, fixture %v", a, b)
	}
	after := ours["after"].(map[string]any)
	if a := keysOf(after); !slices.Equal(a, []string{"product_id", "qty_salable", "updated_at", "version", "warehouse_id"}) {
		t.Errorf("row members %v", a)
	}
	src := ours["source"].(map[string]any)
	for member, want := range map[string]any{
		"connector": "mysql", "snapshot": "false", "sequence": nil, "query": nil, "gtid": encSource.GTID,
		"ts_us": json.Number("1700000000123000"), "ts_ns": json.Number("1700000000123000000"),
	} {
		if src[member] != want {
			t.Errorf("source.%s = %#v, want %#v", member, src[member], want)
		}
	}
	if ours["transaction"] != nil || ours["op"] != "u" {
		t.Errorf("transaction %v op %v", ours["transaction"], ours["op"])
	}

	// A snapshot row: no table, GTID or thread means null, as Debezium writes them.
	value, err = debeziumtest.EncodeStock(domain.OpRead, nil, &row, debezium.Source{Name: "p", DB: "d", Snapshot: "true"}, false, 5)
	if err != nil {
		t.Fatal(err)
	}
	src = decodeJSON(t, value)["source"].(map[string]any)
	if src["table"] != nil || src["gtid"] != nil || src["thread"] != nil || src["snapshot"] != "true" {
		t.Errorf("snapshot source %v", src)
	}
}

func TestEncodeVersionAsSignedLong(t *testing.T) {
	row := domain.StockRow{ProductID: 1, WarehouseID: 2, Version: math.MaxUint64}
	value, err := debeziumtest.EncodeStock(domain.OpCreate, nil, &row, encSource, false, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(value, []byte(`"version":-1,`)) {
		t.Errorf("2^64-1 not written as the long -1: %s", value)
	}
	wh := domain.Warehouse{ID: 1, Code: "A", Active: true, Version: 1 << 63}
	value, err = debeziumtest.EncodeWarehouse(domain.OpCreate, nil, &wh, encSource, false, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(value, []byte(`"is_active":1,"version":-9223372036854775808,`)) {
		t.Errorf("warehouse row: %s", value)
	}
}

// schemaField finds the member schema named field in a struct schema.
func schemaField(t *testing.T, structSchema map[string]any, field string) map[string]any {
	t.Helper()
	for _, f := range structSchema["fields"].([]any) {
		if fm := f.(map[string]any); fm["field"] == field {
			return fm
		}
	}
	t.Fatalf("schema has no field %q", field)
	return nil
}

func TestEncodeSchema(t *testing.T) {
	wh := domain.Warehouse{ID: 1, Code: "A", Active: true, Version: 1}
	src := encSource
	src.Table = "warehouses"
	value, err := debeziumtest.EncodeWarehouse(domain.OpCreate, nil, &wh, src, true, 5)
	if err != nil {
		t.Fatal(err)
	}
	msg := decodeJSON(t, value)
	if keys := keysOf(msg); !slices.Equal(keys, []string{"payload", "schema"}) {
		t.Fatalf("wrapper members %v", keys)
	}
	schema := msg["schema"].(map[string]any)
	if schema["name"] != "gintoki.inventory.warehouses.Envelope" || schema["type"] != "struct" {
		t.Errorf("envelope schema name %v type %v", schema["name"], schema["type"])
	}
	var names []string
	for _, f := range schema["fields"].([]any) {
		names = append(names, f.(map[string]any)["field"].(string))
	}
	if want := []string{"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"}; !slices.Equal(names, want) {
		t.Errorf("envelope fields %v, want %v", names, want)
	}
	// Schema fields and payload members agree.
	payload := msg["payload"].(map[string]any)
	if got := keysOf(payload); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Errorf("payload members %v, schema fields %v", got, names)
	}
	after := schemaField(t, schema, "after")
	if after["name"] != "gintoki.inventory.warehouses.Value" || after["optional"] != true {
		t.Errorf("after schema name %v optional %v", after["name"], after["optional"])
	}
	for field, want := range map[string][2]any{
		"id": {"int64", nil}, "code": {"string", nil}, "name": {"string", nil}, "is_active": {"int16", nil},
		"version": {"int64", nil}, "updated_at": {"int64", "io.debezium.time.MicroTimestamp"},
	} {
		f := schemaField(t, after, field)
		if f["type"] != want[0] || f["name"] != want[1] {
			t.Errorf("after.%s schema type %v name %v, want %v", field, f["type"], f["name"], want)
		}
	}
	rowMembers := keysOf(payload["after"].(map[string]any))
	if len(rowMembers) != len(after["fields"].([]any)) {
		t.Errorf("row members %v do not match the Value schema", rowMembers)
	}
	source := schemaField(t, schema, "source")
	if source["name"] != "io.debezium.connector.mysql.Source" {
		t.Errorf("source schema name %v", source["name"])
	}
	snap := schemaField(t, source, "snapshot")
	if snap["name"] != "io.debezium.data.Enum" || snap["default"] != "false" {
		t.Errorf("snapshot schema %v", snap)
	}
	if got, want := len(source["fields"].([]any)), len(payload["source"].(map[string]any)); got != want {
		t.Errorf("source schema has %d fields, payload source %d members", got, want)
	}
	// Every source field the documentation's schema lists is in ours too.
	docSchema := decodeJSON(t, readFixture(t, "mysql-create-with-schema.json"))["schema"].(map[string]any)
	for _, f := range schemaField(t, docSchema, "source")["fields"].([]any) {
		schemaField(t, source, f.(map[string]any)["field"].(string))
	}
	tx := schemaField(t, schema, "transaction")
	if tx["name"] != "event.block" || tx["optional"] != true {
		t.Errorf("transaction schema %v", tx)
	}

	key, err := debeziumtest.EncodeStockKey(encSource, 1, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	keySchema := decodeJSON(t, key)["schema"].(map[string]any)
	if keySchema["name"] != "gintoki.inventory.stock_items.Key" || len(keySchema["fields"].([]any)) != 2 {
		t.Errorf("key schema %v", keySchema)
	}
	key, err = debeziumtest.EncodeStockKey(debezium.Source{}, 1, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, named := decodeJSON(t, key)["schema"].(map[string]any)["name"]; named {
		t.Errorf("key schema without a source is named: %s", key)
	}
	key, err = debeziumtest.EncodeWarehouseKey(debezium.Source{}, 9, false)
	if err != nil || string(key) != `{"id":9}` {
		t.Errorf("bare warehouse key %s, %v", key, err)
	}
}

func TestEncodeRejects(t *testing.T) {
	row := &domain.StockRow{ProductID: 1, WarehouseID: 2, Version: 3}
	wh := &domain.Warehouse{ID: 1, Code: "A"}
	tests := []struct {
		name string
		err  func() error
	}{
		{"create with before", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpCreate, row, row, encSource, false, 0)
			return err
		}},
		{"create without after", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpCreate, nil, nil, encSource, false, 0)
			return err
		}},
		{"read with before", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpRead, row, row, encSource, false, 0)
			return err
		}},
		{"update without after", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpUpdate, row, nil, encSource, false, 0)
			return err
		}},
		{"delete with after", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpDelete, row, row, encSource, false, 0)
			return err
		}},
		{"delete without before", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpDelete, nil, nil, encSource, false, 0)
			return err
		}},
		{"truncate with a row", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpTruncate, nil, row, encSource, false, 0)
			return err
		}},
		{"unknown op", func() error { _, err := debeziumtest.EncodeStock('x', nil, row, encSource, false, 0); return err }},
		{"zero product id", func() error {
			_, err := debeziumtest.EncodeStock(domain.OpCreate, nil, &domain.StockRow{WarehouseID: 2}, encSource, false, 0)
			return err
		}},
		{"negative ts_ms", func() error {
			src := encSource
			src.TsMs = -1
			_, err := debeziumtest.EncodeStock(domain.OpCreate, nil, row, src, false, 0)
			return err
		}},
		{"ts_ms overflowing ts_ns", func() error {
			src := encSource
			src.TsMs = math.MaxInt64 / 1000
			_, err := debeziumtest.EncodeStock(domain.OpCreate, nil, row, src, false, 0)
			return err
		}},
		{"warehouse zero id", func() error {
			_, err := debeziumtest.EncodeWarehouse(domain.OpCreate, nil, &domain.Warehouse{Code: "A"}, encSource, false, 0)
			return err
		}},
		{"warehouse delete with after", func() error {
			_, err := debeziumtest.EncodeWarehouse(domain.OpDelete, wh, wh, encSource, false, 0)
			return err
		}},
		{"stock key zero", func() error { _, err := debeziumtest.EncodeStockKey(debezium.Source{}, 0, 1, false); return err }},
		{"warehouse key negative", func() error { _, err := debeziumtest.EncodeWarehouseKey(debezium.Source{}, -1, true); return err }},
	}
	for _, tt := range tests {
		if err := tt.err(); err == nil {
			t.Errorf("%s: no error", tt.name)
		} else if !strings.HasPrefix(err.Error(), "encode ") {
			t.Errorf("%s: error %q does not say what was encoded", tt.name, err)
		}
	}
}

// Strings of any content survive encoding; each invalid UTF-8 byte becomes U+FFFD.
func TestEncodeStrings(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s/`, "\x00\x01\x1f\x7f", "\n\r\t\b\f", "héllo 📦 \u2028", "bad \xff\xfe utf8", "<>&"} {
		wh := domain.Warehouse{ID: 1, Code: s, Name: s, Version: 1}
		value, err := debeziumtest.EncodeWarehouse(domain.OpCreate, nil, &wh, debezium.Source{Name: s, DB: s}, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(value) || !utf8.Valid(value) {
			t.Fatalf("%q: invalid output %s", s, value)
		}
		got, err := debezium.DecodeWarehouse(value)
		if err != nil {
			t.Fatal(err)
		}
		want := string([]rune(s)) // each invalid byte becomes U+FFFD, as with encoding/json
		if got.Row.Code != want || got.Row.Name != want {
			t.Errorf("%q came back as %q / %q", s, got.Row.Code, got.Row.Name)
		}
		env, err := debezium.DecodeEnvelope(value)
		if err != nil || env.Source.Name != want || env.Source.DB != want {
			t.Errorf("%q source came back as %+v (%v)", s, env.Source, err)
		}
	}
}
