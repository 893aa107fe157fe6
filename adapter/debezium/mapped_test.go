package debezium_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// A shop's own tables: no version column, salable = on_hand - reserved, and
// columns the cache has no use for.
var (
	shopLevels = relay.Table{DB: "shop", Name: "inventory_levels", Key: []int{0, 1}, Columns: []relay.Column{
		{Name: "sku_id", Type: "bigint"}, {Name: "location_id", Type: "int", Unsigned: true},
		{Name: "on_hand", Type: "int"}, {Name: "reserved", Type: "int"},
		{Name: "updated_at", Type: "timestamp", Scale: 3}, {Name: "note", Type: "varchar", Nullable: true},
	}}
	shopLocations = relay.Table{DB: "shop", Name: "locations", Key: []int{0}, Columns: []relay.Column{
		{Name: "id", Type: "bigint"}, {Name: "code", Type: "varchar"}, {Name: "enabled", Type: "tinyint", Width: 1},
		{Name: "opened_on", Type: "date", Nullable: true},
	}}
	shopMapping = domain.Mapping{
		Stock: domain.StockMapping{Table: "inventory_levels", Product: "sku_id", Warehouse: "location_id",
			Salable: domain.Salable{Column: "on_hand", Minus: "reserved"}},
		Warehouses: &domain.WarehouseMapping{Table: "locations", ID: "id", Code: "code", Active: "enabled"},
	}
	// shopSource is where a streamed shop change comes from: the third row
	// of the binlog event at 4711 of a MySQL transaction.
	shopSource = debezium.Source{Version: "3.7.0.Final", Name: "shop", DB: "shop", Table: "inventory_levels",
		ServerID: 7, File: "mysql-bin.000012", Pos: 4711, Row: 3, TsMs: 1700000000123, Thread: 9,
		GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"}
	shopGTID = domain.GTID{Source: domain.SourceID{Flavor: domain.FlavorMySQL,
		ID: [16]byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}}, Seq: 23}
	shopSub = domain.SubOf(4711, 3)
)

func mustDecoder(t testing.TB, m domain.Mapping) *debezium.Decoder {
	t.Helper()
	d, err := debezium.NewDecoder(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustCodec(t testing.TB, table *relay.Table) *debezium.RowCodec {
	t.Helper()
	c, err := debezium.NewRowCodec(table)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shopEvent encodes a change as the relay writes it; nil images are absent.
func shopEvent(t testing.TB, table *relay.Table, op domain.Op, before, after relay.Row, src debezium.Source, withSchema bool) []byte {
	t.Helper()
	v, err := mustCodec(t, table).EncodeEvent(op, before, after, src, time.UnixMilli(src.TsMs+5), withSchema)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func shopKey(t testing.TB, table *relay.Table, row relay.Row, withSchema bool) []byte {
	t.Helper()
	k, err := mustCodec(t, table).EncodeKey(shopSource, row, withSchema)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func levelRow(sku, location, onHand, reserved string) relay.Row {
	return relay.Row{[]byte(sku), []byte(location), []byte(onHand), []byte(reserved), []byte("2024-01-02 03:04:05.123"), nil}
}

func locationRow(id, code, enabled string) relay.Row {
	return relay.Row{[]byte(id), []byte(code), []byte(enabled), []byte("2020-02-29")}
}

func TestMappedStockFromTheRelaysEncoder(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	old, cur := levelRow("1001", "7", "9", "2"), levelRow("1001", "7", "20", "25")
	oldRow := domain.StockRow{ProductID: 1001, WarehouseID: 7, QtySalable: 7}
	curRow := domain.StockRow{ProductID: 1001, WarehouseID: 7, QtySalable: -5} // oversold: served as it is
	snapshot := shopSource
	snapshot.Snapshot, snapshot.GTID, snapshot.Thread = "last", "", 0 // snapshot rows name no transaction
	for _, tt := range []struct {
		name          string
		op            domain.Op
		before, after relay.Row
		src           debezium.Source
		want          domain.StockChange
	}{
		{"insert", domain.OpCreate, nil, cur, shopSource, domain.StockChange{Row: curRow, GTID: shopGTID, Sub: shopSub}},
		{"update takes the after image", domain.OpUpdate, old, cur, shopSource, domain.StockChange{Row: curRow, GTID: shopGTID, Sub: shopSub}},
		{"delete takes the before image", domain.OpDelete, old, nil, shopSource, domain.StockChange{Row: oldRow, GTID: shopGTID, Sub: shopSub}},
		{"snapshot read has no place in a transaction", domain.OpRead, nil, cur, snapshot, domain.StockChange{Row: curRow}},
		{"truncate", domain.OpTruncate, nil, nil, shopSource, domain.StockChange{GTID: shopGTID, Sub: shopSub}},
	} {
		for _, withSchema := range []bool{false, true} {
			value := shopEvent(t, &shopLevels, tt.op, tt.before, tt.after, tt.src, withSchema)
			key := shopKey(t, &shopLevels, cur, withSchema)
			want := tt.want
			want.Op, want.SourceTsMs = tt.op, tt.src.TsMs
			got, meta, err := dec.StockRecord(key, value)
			if err != nil {
				t.Fatalf("%s (schema %v): %v\n%s", tt.name, withSchema, err, value)
			}
			if got != want {
				t.Errorf("%s (schema %v):\ngot  %+v\nwant %+v", tt.name, withSchema, got, want)
			}
			if wantForm := map[bool]debezium.Form{false: debezium.FormBare, true: debezium.FormWrapped}[withSchema]; meta != (debezium.Meta{Form: wantForm}) {
				t.Errorf("%s: meta %+v", tt.name, meta)
			}
			if pid, wid, err := dec.StockKey(key); err != nil || pid != 1001 || wid != 7 {
				t.Errorf("key %s: %d, %d, %v", key, pid, wid, err)
			}
			// The project's decoder knows none of these columns.
			if _, err := debezium.DecodeStock(value); tt.op != domain.OpTruncate && !errors.Is(err, debezium.ErrMalformed) {
				t.Errorf("%s: DecodeStock of a shop event: %v", tt.name, err)
			}
		}
	}
}

func TestMappedWarehouseFromTheRelaysEncoder(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	src := shopSource
	src.Table, src.GTID = "locations", "0-1-4711" // MariaDB
	gtid, _ := domain.ParseGTID("0-1-4711")
	old, cur := locationRow("3", "FRA-1", "1"), locationRow("3", "FRA-2", "0")
	for _, tt := range []struct {
		op            domain.Op
		before, after relay.Row
		want          domain.Warehouse
	}{
		{domain.OpCreate, nil, old, domain.Warehouse{ID: 3, Code: "FRA-1", Active: true}},
		{domain.OpRead, nil, cur, domain.Warehouse{ID: 3, Code: "FRA-2"}},
		{domain.OpUpdate, old, cur, domain.Warehouse{ID: 3, Code: "FRA-2"}},
		{domain.OpDelete, old, nil, domain.Warehouse{ID: 3, Code: "FRA-1", Active: true}},
		{domain.OpTruncate, nil, nil, domain.Warehouse{}},
	} {
		for _, withSchema := range []bool{false, true} {
			value := shopEvent(t, &shopLocations, tt.op, tt.before, tt.after, src, withSchema)
			key := shopKey(t, &shopLocations, old, withSchema)
			got, _, err := dec.WarehouseRecord(key, value)
			want := domain.WarehouseChange{Op: tt.op, Row: tt.want, SourceTsMs: src.TsMs, GTID: gtid, Sub: shopSub}
			if err != nil || got != want {
				t.Errorf("%v (schema %v):\ngot  %+v, %v\nwant %+v", tt.op, withSchema, got, err, want)
			}
			if id, err := dec.WarehouseKey(key); err != nil || id != 3 {
				t.Errorf("key %s: %d, %v", key, id, err)
			}
		}
	}
}

// A null value after a flattened stream's delete is the delete itself,
// known by the key alone: the mapped key columns.
func TestMappedTombstoneIsADeleteByKey(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	for _, withSchema := range []bool{false, true} {
		key := shopKey(t, &shopLevels, levelRow("1001", "7", "1", "0"), withSchema)
		c, meta, err := dec.StockRecord(key, nil)
		want := domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 1001, WarehouseID: 7}, ByKey: true}
		if err != nil || c != want || meta != (debezium.Meta{NullValue: true}) {
			t.Errorf("stock (schema %v): %+v %+v %v", withSchema, c, meta, err)
		}
		key = shopKey(t, &shopLocations, locationRow("3", "x", "1"), withSchema)
		w, meta, err := dec.WarehouseRecord(key, []byte("null"))
		wantW := domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 3}, ByKey: true}
		if err != nil || w != wantW || !meta.NullValue {
			t.Errorf("warehouse (schema %v): %+v %+v %v", withSchema, w, meta, err)
		}
	}
	// The project's key columns are not the shop's.
	_, _, err := dec.StockRecord([]byte(`{"product_id":1,"warehouse_id":2}`), nil)
	if err == nil || err.Error() != "inventory_levels key: sku_id: missing" {
		t.Errorf("project key under the shop mapping: %v", err)
	}
}

// flatten is what ExtractNewRecordState makes of an event the relay wrote:
// the row image (before for a delete) plus the add.fields members.
func flatten(t *testing.T, value []byte, fields string) string {
	t.Helper()
	env, err := debezium.DecodeEnvelope(value)
	if err != nil {
		t.Fatal(err)
	}
	row := env.After
	if env.Op == domain.OpDelete {
		row = env.Before
	}
	return flatRow(string(row), fields)
}

func TestMappedFlattenedRowsCarryTheirPosition(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	old, cur := levelRow("1001", "7", "9", "2"), levelRow("1001", "7", "20", "5")
	update := shopEvent(t, &shopLevels, domain.OpUpdate, old, cur, shopSource, false)
	del := shopEvent(t, &shopLevels, domain.OpDelete, old, nil, shopSource, false)
	upd := domain.StockChange{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 1001, WarehouseID: 7, QtySalable: 15}}
	gone := domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 1001, WarehouseID: 7, QtySalable: 7}}
	placed := func(c domain.StockChange) domain.StockChange {
		c.GTID, c.Sub, c.SourceTsMs = shopGTID, shopSub, shopSource.TsMs
		return c
	}
	const qualified = `"__source_gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","__source_pos":4711,"__source_row":3,"__source_ts_ms":1700000000123`
	const bare = `"__gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","__pos":4711,"__row":3,"__source_ts_ms":1700000000123`
	for _, tt := range []struct {
		name     string
		value    string
		want     domain.StockChange
		wantMeta debezium.Meta
	}{
		{"add.fields=op,source.gtid,source.pos,source.row", flatten(t, update, `"__op":"u",`+qualified+`,"__deleted":"false"`),
			placed(upd), debezium.Meta{Form: debezium.FormFlattened, DeletedField: true}},
		{"add.fields=op,gtid,pos,row", flatten(t, update, `"__op":"u",`+bare),
			placed(upd), debezium.Meta{Form: debezium.FormFlattened}},
		{"rewritten delete", flatten(t, del, `"__op":"d",`+qualified+`,"__deleted":"true"`),
			placed(gone), debezium.Meta{Form: debezium.FormFlattened, DeletedField: true}},
		{"wrapped", wrappedEvent(flatten(t, del, qualified+`,"__deleted":"true"`)),
			placed(gone), debezium.Meta{Form: debezium.FormFlattened, DeletedField: true}},
		{"snapshot row: null gtid", flatten(t, update, `"__op":"r","__source_gtid":null,"__source_pos":4711,"__source_row":3`),
			domain.StockChange{Op: domain.OpRead, Row: upd.Row}, debezium.Meta{Form: debezium.FormFlattened}},
		{"without the source fields", flatten(t, update, `"__op":"u"`), upd, debezium.Meta{Form: debezium.FormFlattened}},
	} {
		got, meta, err := dec.StockRecord(nil, []byte(tt.value))
		if err != nil || got != tt.want || meta != tt.wantMeta {
			t.Errorf("%s:\ngot  %+v %+v %v\nwant %+v %+v\n%s", tt.name, got, meta, err, tt.want, tt.wantMeta, tt.value)
		}
	}
	for _, tt := range []struct{ value, wantErr string }{
		{flatten(t, update, `"__source_pos":-1`), "inventory_levels event: __source_pos: out of range"},
		{flatten(t, update, `"__pos":281474976710656`), "inventory_levels event: __pos: out of range"},
		{flatten(t, update, `"__source_row":"3"`), "inventory_levels event: __source_row: not an integer"},
		{flatten(t, update, `"__gtid":23`), "inventory_levels event: __gtid: not a string"},
	} {
		if _, err := dec.Stock([]byte(tt.value)); err == nil || err.Error() != tt.wantErr || !errors.Is(err, debezium.ErrMalformed) {
			t.Errorf("%s: err %v, want %q", tt.value, err, tt.wantErr)
		}
	}
}

// levelsImage is an inventory_levels row image with one member replaced
// (value "" drops it).
func levelsImage(member, value string) string {
	return jsonObject([]string{"sku_id", "location_id", "on_hand", "reserved", "updated_at"},
		map[string]string{"sku_id": "1001", "location_id": "7", "on_hand": "20", "reserved": "5", "updated_at": `"2024-01-02T03:04:05.123Z"`},
		member, value)
}

func locationsImage(member, value string) string {
	return jsonObject([]string{"id", "code", "enabled"}, map[string]string{"id": "3", "code": `"FRA-1"`, "enabled": "1"}, member, value)
}

func jsonObject(order []string, members map[string]string, member, value string) string {
	if member != "" {
		members[member] = value
		if !slices.Contains(order, member) {
			order = append(order, member)
		}
	}
	var parts []string
	for _, k := range order {
		if v := members[k]; v != "" {
			parts = append(parts, `"`+k+`":`+v)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// A named column missing, null or of the wrong JSON type is poison, and
// the error names it.
func TestMappedBadColumnsArePoison(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	for _, tt := range []struct{ value, wantErr string }{
		{bareEvent("c", "null", levelsImage("sku_id", "")), "inventory_levels event: after.sku_id: missing"},
		{bareEvent("c", "null", levelsImage("location_id", "null")), "inventory_levels event: after.location_id: is null"},
		{bareEvent("u", "null", levelsImage("on_hand", "")), "inventory_levels event: after.on_hand: missing"},
		{bareEvent("u", "null", levelsImage("on_hand", `"20"`)), "inventory_levels event: after.on_hand: not an integer"},
		{bareEvent("u", "null", levelsImage("reserved", "")), "inventory_levels event: after.reserved: missing"},
		{bareEvent("r", "null", levelsImage("reserved", "null")), "inventory_levels event: after.reserved: is null"},
		{bareEvent("u", "null", levelsImage("reserved", "1.5")), "inventory_levels event: after.reserved: not an integer"},
		{bareEvent("d", levelsImage("sku_id", "0"), "null"), "inventory_levels event: before.sku_id: must be a positive integer"},
		{flatRow(levelsImage("location_id", ""), `"__op":"c"`), "inventory_levels event: row.location_id: missing"},
	} {
		got, err := dec.Stock([]byte(tt.value))
		if err == nil || err.Error() != tt.wantErr || !errors.Is(err, debezium.ErrMalformed) {
			t.Errorf("got %+v, %v\nwant %q", got, err, tt.wantErr)
		}
	}
	for _, tt := range []struct{ value, wantErr string }{
		{bareEvent("c", "null", locationsImage("id", "")), "locations event: after.id: missing"},
		{bareEvent("c", "null", locationsImage("code", "")), "locations event: after.code: missing"},
		{bareEvent("c", "null", locationsImage("code", "null")), "locations event: after.code: is null"},
		{bareEvent("c", "null", locationsImage("code", "7")), "locations event: after.code: not a string"},
		{bareEvent("u", "null", locationsImage("enabled", "")), "locations event: after.enabled: missing"},
		{bareEvent("u", "null", locationsImage("enabled", `"yes"`)), "locations event: after.enabled: not a boolean or 0/1"},
		{bareEvent("r", "null", locationsImage("enabled", "null")), "locations event: after.enabled: is null"},
	} {
		got, err := dec.Warehouse([]byte(tt.value))
		if err == nil || err.Error() != tt.wantErr || !errors.Is(err, debezium.ErrMalformed) {
			t.Errorf("got %+v, %v\nwant %q", got, err, tt.wantErr)
		}
	}
	for _, tt := range []struct{ key, wantErr string }{
		{`{"sku_id":1001}`, "inventory_levels key: location_id: missing"},
		{`{"schema":{},"payload":{"sku_id":"1001","location_id":7}}`, "inventory_levels key: sku_id: not an integer"},
	} {
		if _, _, err := dec.StockKey([]byte(tt.key)); err == nil || err.Error() != tt.wantErr {
			t.Errorf("key %s: %v, want %q", tt.key, err, tt.wantErr)
		}
	}
	if _, err := dec.WarehouseKey([]byte(`{"code":"x"}`)); err == nil || err.Error() != "locations key: id: missing" {
		t.Errorf("warehouse key: %v", err)
	}
}

// What the mapping does not name is not read: not the project's own
// column names, not a delete's salable columns.
func TestMappedIgnoresWhatItDoesNotName(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	noise := `"product_id":-1,"qty_salable":"x","version":"x","updated_at":[1],"id":{},"code":5`
	value := bareEvent("u", "null", strings.TrimSuffix(levelsImage("", ""), "}")+","+noise+"}")
	want := domain.StockChange{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 1001, WarehouseID: 7, QtySalable: 15}, SourceTsMs: 1700000000123}
	if got, err := dec.Stock([]byte(value)); err != nil || got != want {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	// A key is its key columns (message.key.columns may add others).
	if pid, wid, err := dec.StockKey([]byte(`{"sku_id":1001,"location_id":7,"on_hand":"x","product_id":0}`)); err != nil || pid != 1001 || wid != 7 {
		t.Errorf("key with other columns: %d, %d, %v", pid, wid, err)
	}
	// A delete says which row went away; how much it held does not matter.
	want = domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 1001, WarehouseID: 7}, SourceTsMs: 1700000000123}
	if got, err := dec.Stock([]byte(bareEvent("d", `{"sku_id":1001,"location_id":7,"reserved":null}`, "null"))); err != nil || got != want {
		t.Errorf("delete by key columns: %+v, %v", got, err)
	}
	// Nor which code and state a location had: its NULLs are no poison.
	wantW := domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 3}, SourceTsMs: 1700000000123}
	if got, err := dec.Warehouse([]byte(bareEvent("d", `{"id":3,"code":null,"enabled":null}`, "null"))); err != nil || got != wantW {
		t.Errorf("delete with nulls: %+v, %v", got, err)
	}
	w := `{"id":3,"code":"FRA-1","enabled":false,"name":7,"is_active":"maybe","version":null}`
	wantW = domain.WarehouseChange{Op: domain.OpCreate, Row: domain.Warehouse{ID: 3, Code: "FRA-1"}, SourceTsMs: 1700000000123}
	if got, err := dec.Warehouse([]byte(bareEvent("c", "null", w))); err != nil || got != wantW {
		t.Errorf("warehouse: %+v, %v", got, err)
	}
}

// With a version column the mapping orders by it: it is required and read,
// under its own name.
func TestMappedVersionColumn(t *testing.T) {
	m := shopMapping
	m.Stock.Version = "row_version"
	dec := mustDecoder(t, m)
	for _, tt := range []struct {
		version string
		want    uint64
		wantErr string
	}{
		{"42", 42, ""},
		{"-1", math.MaxUint64, ""}, // BIGINT UNSIGNED as Debezium's long
		{"", 0, "inventory_levels event: after.row_version: missing"},
		{"null", 0, "inventory_levels event: after.row_version: is null"},
		{`"42"`, 0, "inventory_levels event: after.row_version: not an integer"},
	} {
		got, err := dec.Stock([]byte(bareEvent("u", "null", levelsImage("row_version", tt.version))))
		switch {
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("version %q: %v, want %q", tt.version, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got.Row.Version != tt.want):
			t.Errorf("version %q: %+v, %v", tt.version, got, err)
		}
	}
	// Without one, a column named version is just another column.
	got, err := mustDecoder(t, shopMapping).Stock([]byte(bareEvent("u", "null", levelsImage("version", "99"))))
	if err != nil || got.Row.Version != 0 {
		t.Errorf("version-less mapping: %+v, %v", got, err)
	}
}

func TestMappedSalable(t *testing.T) {
	minus := mustDecoder(t, shopMapping)
	single := shopMapping
	single.Stock.Salable = domain.Salable{Column: "on_hand"}
	one := mustDecoder(t, single)
	for _, tt := range []struct {
		dec              *debezium.Decoder
		onHand, reserved string
		want             int32
		name             string
	}{
		{minus, "5", "8", -3, "oversold"},
		{minus, "3000000000", "1", math.MaxInt32, "beyond int32 saturates"},
		{minus, "-3000000000", "0", math.MinInt32, "below int32 saturates"},
		{minus, "9223372036854775807", "-9223372036854775808", math.MaxInt32, "beyond int64"},
		{minus, "-9223372036854775808", "1", math.MinInt32, "below int64"},
		{minus, "5", "-9223372036854775808", math.MaxInt32, "minus the least int64"},
		{minus, "-1", "9223372036854775807", math.MinInt32, "difference is the least int64"},
		{one, "3000000000", "x", math.MaxInt32, "one column saturates too"},
		{one, "-4", "x", -4, "one column, negative"},
	} {
		value := bareEvent("u", "null", `{"sku_id":1,"location_id":2,"on_hand":`+tt.onHand+`,"reserved":`+tt.reserved+`}`)
		if tt.reserved == "x" {
			value = bareEvent("u", "null", `{"sku_id":1,"location_id":2,"on_hand":`+tt.onHand+`}`)
		}
		got, err := tt.dec.Stock([]byte(value))
		if err != nil || got.Row.QtySalable != tt.want {
			t.Errorf("%s: %d, %v; want %d", tt.name, got.Row.QtySalable, err, tt.want)
		}
	}
}

// The decoder of the project's own tables is the package functions'.
func TestDefaultMappingDecoderIsThePackages(t *testing.T) {
	dec := mustDecoder(t, domain.DefaultMapping())
	values := []string{
		bareEvent("u", stockRow1, stockRow2), wrappedEvent(bareEvent("d", stockRow1, "null")),
		flatRow(stockRow1, `"__op":"c","__source_gtid":"0-1-5","__source_pos":9,"__source_row":1,"__deleted":"false"`),
		bareEvent("c", "null", stockWith("qty_salable", "2147483648")), bareEvent("c", "null", stockWith("updated_at", "1.5")),
		bareEvent("c", "null", warehouseRow), bareEvent("d", `{"id":3}`, "null"), `{"schema":null,"payload":null}`, "",
	}
	keys := []string{`{"product_id":42,"warehouse_id":7}`, `{"id":3}`, `{"schema":{},"payload":{"id":-3}}`, `null`}
	for _, v := range values {
		for _, k := range keys {
			c1, m1, err1 := dec.StockRecord([]byte(k), []byte(v))
			c2, m2, err2 := debezium.DecodeStockRecord([]byte(k), []byte(v))
			if c1 != c2 || m1 != m2 || errString(err1) != errString(err2) {
				t.Errorf("stock %s / %s:\n%+v %+v %v\n%+v %+v %v", k, v, c1, m1, err1, c2, m2, err2)
			}
			w1, m1, err1 := dec.WarehouseRecord([]byte(k), []byte(v))
			w2, m2, err2 := debezium.DecodeWarehouseRecord([]byte(k), []byte(v))
			if w1 != w2 || m1 != m2 || errString(err1) != errString(err2) {
				t.Errorf("warehouse %s / %s:\n%+v %+v %v\n%+v %+v %v", k, v, w1, m1, err1, w2, m2, err2)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The documentation's customers events, read as a warehouses table keyed
// by id, coded by email: a table with neither version nor active column.
func TestMappedCustomersFixtures(t *testing.T) {
	m := shopMapping
	m.Warehouses = &domain.WarehouseMapping{Table: "customers", ID: "id", Code: "email", Name: "first_name"}
	dec := mustDecoder(t, m)
	anne := domain.Warehouse{ID: 1004, Code: "annek@noanswer.org", Name: "Anne", Active: true}
	anneMarie := anne
	anneMarie.Name = "Anne Marie"
	for _, tt := range []struct {
		file string
		want domain.WarehouseChange
	}{
		{"mysql-create-with-schema.json", domain.WarehouseChange{Op: domain.OpCreate, Row: anne}},
		{"mysql-update-with-schema.json", domain.WarehouseChange{Op: domain.OpUpdate, Row: anneMarie, SourceTsMs: 1465581029100}},
		{"mysql-delete-with-schema.json", domain.WarehouseChange{Op: domain.OpDelete, Row: anneMarie, SourceTsMs: 1465581902300}},
		{"mysql-snapshot-read-with-schema.json", domain.WarehouseChange{Op: domain.OpRead, Row: anne}},
		{"mysql-truncate-no-schema.json", domain.WarehouseChange{Op: domain.OpTruncate, SourceTsMs: 1465581029100}},
		{"mysql-update-no-schema.json", domain.WarehouseChange{Op: domain.OpUpdate, SourceTsMs: 1646300467000,
			Row: domain.Warehouse{ID: 1001, Code: "sally.thomas@acme.com", Name: "Sally Marie", Active: true}}},
		{"mysql-unwrapped-update-derived.json", domain.WarehouseChange{Op: domain.OpUpdate, Row: anneMarie, SourceTsMs: 1465581029100}},
		{"mysql-unwrapped-delete-rewrite-derived.json", domain.WarehouseChange{Op: domain.OpDelete, Row: anneMarie, SourceTsMs: 1465581902300}},
	} {
		got, err := dec.Warehouse(readFixture(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("%s:\ngot  %+v, %v\nwant %+v", tt.file, got, err, tt.want)
		}
	}
	if id, err := dec.WarehouseKey(readFixture(t, "mysql-key-with-schema.json")); err != nil || id != 1001 {
		t.Errorf("key fixture: %d, %v", id, err)
	}
	// The generic rewrite example: a delete needs its key column only.
	m.Warehouses = &domain.WarehouseMapping{Table: "t", ID: "pk", Code: "cola"}
	got, err := mustDecoder(t, m).Warehouse(readFixture(t, "unwrapped-delete-rewrite-doc.json"))
	if want := (domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 2, Active: true}}); err != nil || got != want {
		t.Errorf("rewrite doc: %+v, %v", got, err)
	}
}

func TestMappedWarehouseColumns(t *testing.T) {
	// One column as both code and name.
	m := shopMapping
	m.Warehouses = &domain.WarehouseMapping{Table: "locations", ID: "id", Code: "label", Name: "label"}
	got, err := mustDecoder(t, m).Warehouse([]byte(bareEvent("c", "null", `{"id":3,"label":"FRA-1"}`)))
	if want := (domain.Warehouse{ID: 3, Code: "FRA-1", Name: "FRA-1", Active: true}); err != nil || got.Row != want {
		t.Errorf("shared column: %+v, %v", got, err)
	}
	// No warehouses table: a record of one is no table's.
	m.Warehouses = nil
	dec := mustDecoder(t, m)
	_, _, err = dec.WarehouseRecord([]byte(`{"id":3}`), []byte(bareEvent("c", "null", `{"id":3,"code":"x"}`)))
	if err == nil || !errors.Is(err, debezium.ErrMalformed) || err.Error() != "warehouses event: the schema mapping has no warehouses table" {
		t.Errorf("no warehouses table: %v", err)
	}
	if _, err := dec.WarehouseKey([]byte(`{"id":3}`)); err == nil || !errors.Is(err, debezium.ErrMalformed) {
		t.Errorf("no warehouses table, key: %v", err)
	}
}

func TestNewDecoderChecksTheMapping(t *testing.T) {
	m := shopMapping
	m.Stock.Product = ""
	if _, err := debezium.NewDecoder(m); err == nil || !strings.Contains(err.Error(), "stock.product is required") {
		t.Errorf("err = %v", err)
	}
}

// The mapped decoder costs what the project's does: nothing allocated,
// GTID included.
func TestMappedStockDoesNotAllocate(t *testing.T) {
	dec := mustDecoder(t, shopMapping)
	old, cur := levelRow("1001", "7", "9", "2"), levelRow("1001", "7", "20", "5")
	update := shopEvent(t, &shopLevels, domain.OpUpdate, old, cur, shopSource, false)
	for _, value := range [][]byte{
		update,
		shopEvent(t, &shopLevels, domain.OpUpdate, old, cur, shopSource, true),
		[]byte(flatten(t, update, `"__op":"u","__source_gtid":"0-1-77","__source_pos":4711,"__source_row":3`)),
		projectUpdate(t), // the project's, with a MySQL GTID
	} {
		d := dec
		if strings.Contains(string(value), `"product_id"`) {
			d = mustDecoder(t, domain.DefaultMapping())
		}
		allocs := testing.AllocsPerRun(100, func() {
			if c, err := d.Stock(value); err != nil || !c.GTID.Known() {
				t.Fatal(c, err)
			}
		})
		if allocs != 0 && !raceEnabled {
			t.Errorf("Stock allocates %.0f times for %.60s...", allocs, value)
		}
	}
}

func projectUpdate(t *testing.T) []byte {
	t.Helper()
	row := domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: 15, Version: 1001}
	v, err := debeziumtest.EncodeStock(domain.OpUpdate, &row, &row, benchSource, false, 1700000000123456)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
