package debezium_test

import (
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// addShopSeeds adds the shop tables' events to the project's seeds: every
// op in both forms, flattened rows with their position, and keys.
func addShopSeeds(f *testing.F) {
	addSeeds(f)
	level, location := levelRow("1001", "7", "20", "25"), locationRow("3", "FRA-1", "1")
	mariadb := shopSource
	mariadb.GTID = "0-1-4711"
	for _, withSchema := range []bool{false, true} {
		for _, op := range []domain.Op{domain.OpCreate, domain.OpUpdate, domain.OpDelete, domain.OpRead, domain.OpTruncate} {
			var before, after [2]relay.Row
			switch op {
			case domain.OpCreate, domain.OpRead:
				after = [2]relay.Row{level, location}
			case domain.OpUpdate:
				before, after = [2]relay.Row{level, location}, [2]relay.Row{level, location}
			case domain.OpDelete:
				before = [2]relay.Row{level, location}
			}
			f.Add(shopEvent(f, &shopLevels, op, before[0], after[0], shopSource, withSchema))
			f.Add(shopEvent(f, &shopLocations, op, before[1], after[1], mariadb, withSchema))
		}
		f.Add(shopKey(f, &shopLevels, level, withSchema))
		f.Add(shopKey(f, &shopLocations, location, withSchema))
	}
	for _, s := range []string{
		`{"sku_id":1001,"location_id":7,"on_hand":20,"reserved":25,"__op":"u","__source_gtid":"0-1-4711","__source_pos":4711,"__source_row":3,"__deleted":"false"}`,
		`{"sku_id":1001,"location_id":7,"on_hand":20,"reserved":null,"__gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","__pos":4711,"__row":70000,"__deleted":"true"}`,
		wrappedEvent(`{"id":3,"code":"FRA-1","enabled":true,"__op":"c","__source_gtid":null,"__source_pos":0,"__source_row":0}`),
		bareEvent("u", "null", `{"sku_id":1,"location_id":2,"on_hand":-9223372036854775808,"reserved":1}`),
		bareEvent("d", `{"id":3,"code":null,"enabled":null}`, "null"),
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeMapped decodes anything with the shop's mapping: every failure
// is one of the three kinds, and what decodes keeps the mapping's promises
// and survives the relay's encoder.
func FuzzDecodeMapped(f *testing.F) {
	addShopSeeds(f)
	dec := mustDecoder(f, shopMapping)
	levels, locations := mustCodec(f, &shopLevels), mustCodec(f, &shopLocations)
	f.Fuzz(func(t *testing.T, value []byte) {
		_, _, _ = dec.StockKey(value)
		_, _ = dec.WarehouseKey(value)
		if c, err := dec.Stock(value); err != nil {
			checkErrClass(t, err)
		} else {
			checkMappedStock(t, dec, levels, value, c)
		}
		if c, err := dec.Warehouse(value); err != nil {
			checkErrClass(t, err)
		} else {
			checkMappedWarehouse(t, dec, locations, value, c)
		}
	})
}

func checkMappedStock(t *testing.T, dec *debezium.Decoder, codec *debezium.RowCodec, value []byte, c domain.StockChange) {
	t.Helper()
	if !checkChange(t, value, c.Op, c.SourceTsMs, c.GTID, c.Sub, c.Row) {
		return
	}
	switch {
	case c.Row.ProductID <= 0 || c.Row.WarehouseID <= 0:
		t.Fatalf("non-positive ids %+v", c.Row)
	case c.Row.Version != 0:
		t.Fatalf("a version from a version-less mapping: %+v", c.Row)
	}
	row := relay.Row{itoa(c.Row.ProductID), itoa(c.Row.WarehouseID), itoa(int64(c.Row.QtySalable)), []byte("0"),
		[]byte("2024-01-02 03:04:05.000"), nil}
	back, err := dec.Stock(reencode(t, codec, c.Op, row, c.SourceTsMs))
	if err != nil || back.Op != c.Op || back.Row != c.Row {
		t.Fatalf("round trip of %+v gave %+v, %v", c, back, err)
	}
}

func checkMappedWarehouse(t *testing.T, dec *debezium.Decoder, codec *debezium.RowCodec, value []byte, c domain.WarehouseChange) {
	t.Helper()
	if !checkChange(t, value, c.Op, c.SourceTsMs, c.GTID, c.Sub, c.Row) {
		return
	}
	switch {
	case c.Row.ID <= 0:
		t.Fatalf("non-positive id %+v", c.Row)
	case c.Row.Version != 0 || c.Row.Name != "":
		t.Fatalf("unmapped columns read: %+v", c.Row)
	case !utf8.ValidString(c.Row.Code):
		t.Fatalf("invalid UTF-8 in %+v", c.Row)
	}
	active := map[bool][]byte{false: []byte("0"), true: []byte("1")}[c.Row.Active]
	row := relay.Row{itoa(c.Row.ID), []byte(c.Row.Code), active, nil}
	back, err := dec.Warehouse(reencode(t, codec, c.Op, row, c.SourceTsMs))
	// A delete's image need not have had a code or an active column.
	if err != nil || back.Op != c.Op || back.Row != c.Row && c.Op != domain.OpDelete || back.Row.ID != c.Row.ID {
		t.Fatalf("round trip of %+v gave %+v, %v", c, back, err)
	}
}

// checkChange: the value is an envelope with the change's op and time, the
// change is placed where its source block says, and only a truncate, which
// must carry none, has no row. It reports whether there is a row to check.
func checkChange[R comparable](t *testing.T, value []byte, op domain.Op, tsMs int64, gtid domain.GTID, sub uint64, row R) bool {
	t.Helper()
	var none R
	if op == domain.OpTruncate && row != none {
		t.Fatalf("truncate with a row %+v", row)
	}
	if !op.Valid() {
		t.Fatalf("invalid op %v", op)
	}
	checkEnvelopeAgrees(t, value, op, tsMs)
	env, _ := debezium.DecodeEnvelope(value)
	want, _ := domain.ParseGTID(env.Source.GTID)
	switch {
	case gtid != want:
		t.Fatalf("gtid %+v, source says %q", gtid, env.Source.GTID)
	case gtid.Known() && sub != domain.SubOf(uint64(env.Source.Pos), env.Source.Row):
		t.Fatalf("sub %d, source pos %d row %d", sub, env.Source.Pos, env.Source.Row)
	case !gtid.Known() && sub != 0:
		t.Fatalf("a place in no transaction: %d", sub)
	}
	return op != domain.OpTruncate
}

// reencode writes a decoded row back as the relay would.
func reencode(t *testing.T, codec *debezium.RowCodec, op domain.Op, row relay.Row, tsMs int64) []byte {
	t.Helper()
	var before, after relay.Row
	if op == domain.OpDelete {
		before = row
	} else {
		after = row
	}
	src := shopSource
	src.TsMs = min(max(tsMs, 0), 1<<43) // within what ts_ns can hold
	v, err := codec.EncodeEvent(op, before, after, src, time.UnixMilli(src.TsMs), true)
	if err != nil {
		t.Fatalf("re-encode %v %q: %v", op, row, err)
	}
	return v
}

func itoa(n int64) []byte { return strconv.AppendInt(nil, n, 10) }
