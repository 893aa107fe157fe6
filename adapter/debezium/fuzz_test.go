package debezium_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
)

// addSeeds seeds a fuzz target with the documentation fixtures, encoder
// output for every op in both forms, and hand-made variants of the other forms.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	row := domain.StockRow{ProductID: 42, WarehouseID: 7, QtySalable: 15, Version: 1 << 63}
	wh := domain.Warehouse{ID: 3, Code: "WH-3", Name: "North \u00e9", Active: true, Version: 77}
	for _, withSchema := range []bool{false, true} {
		for _, op := range []domain.Op{domain.OpCreate, domain.OpUpdate, domain.OpDelete, domain.OpRead, domain.OpTruncate} {
			var before, after *domain.StockRow
			var wBefore, wAfter *domain.Warehouse
			switch op {
			case domain.OpCreate, domain.OpRead:
				after, wAfter = &row, &wh
			case domain.OpUpdate:
				before, after, wBefore, wAfter = &row, &row, &wh, &wh
			case domain.OpDelete:
				before, wBefore = &row, &wh
			}
			v, err := debeziumtest.EncodeStock(op, before, after, encSource, withSchema, 1700000000123456)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(v)
			v, err = debeziumtest.EncodeWarehouse(op, wBefore, wAfter, encSource, withSchema, 1700000000123456)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(v)
		}
		k, _ := debeziumtest.EncodeStockKey(debezium.Source{}, 42, 7, withSchema)
		f.Add(k)
		k, _ = debeziumtest.EncodeWarehouseKey(encSource, 3, withSchema)
		f.Add(k)
	}
	for _, s := range []string{
		flatRow(stockRow1, `"__op":"c","__table":"stock_items","__source_ts_ms":1700000000123,"__deleted":"false"`),
		flatRow(stockRow1, `"__deleted":true`),
		wrappedEvent(flatRow(warehouseRow, `"__op":"r","__source_snapshot":"incremental"`)),
		strings.Replace(bareEvent("r", "null", stockWith("version", "-1")), `"snapshot":"false"`, `"snapshot":true`, 1),
		bareEvent("u", "null", `{"id":3,"code":"W\u00e9","name":null,"is_active":"true","version":-5}`),
		`{"status":"BEGIN","id":"x:1","ts_ms":1,"event_count":null,"data_collections":null}`,
		`{"schema":null,"payload":null}`, `null`, ``, `{"ts_ms":1}`, `{"op":"m","source":{}}`,
		`{"op":"c","after":{"product_id":1e3,"warehouse_id":1.5,"version":18446744073709551616}}`,
	} {
		f.Add([]byte(s))
	}
}

// checkErrClass: every failure is exactly one of the three kinds a consumer
// tells apart.
func checkErrClass(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, kind := range []error{debezium.ErrTombstone, debezium.ErrNotRowEvent, debezium.ErrMalformed} {
		if errors.Is(err, kind) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q is of %d kinds", err, n)
	}
}

// checkEnvelopeAgrees: a value a table decoder accepts is an envelope too,
// with the same op and source time, and is valid JSON.
func checkEnvelopeAgrees(t *testing.T, value []byte, op domain.Op, sourceTsMs int64) {
	t.Helper()
	if !json.Valid(value) {
		t.Fatalf("decoded invalid JSON %q", value)
	}
	env, err := debezium.DecodeEnvelope(value)
	if err != nil {
		t.Fatalf("table decoder accepted what DecodeEnvelope refuses (%v): %q", err, value)
	}
	if env.Op != op || env.Source.TsMs != sourceTsMs {
		t.Fatalf("envelope op %v ts %d, table decoder %v %d", env.Op, env.Source.TsMs, op, sourceTsMs)
	}
}

func FuzzDecodeStock(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		_, _, _ = debezium.DecodeStockKey(value)
		c, err := debezium.DecodeStock(value)
		if err != nil {
			checkErrClass(t, err)
			return
		}
		if !c.Op.Valid() {
			t.Fatalf("invalid op %v", c.Op)
		}
		checkEnvelopeAgrees(t, value, c.Op, c.SourceTsMs)
		if c.Op == domain.OpTruncate {
			if c.Row != (domain.StockRow{}) {
				t.Fatalf("truncate with a row %+v", c.Row)
			}
			return
		}
		if c.Row.ProductID <= 0 || c.Row.WarehouseID <= 0 {
			t.Fatalf("non-positive ids %+v", c.Row)
		}
		// What was decoded encodes and decodes back to itself.
		var before, after *domain.StockRow
		if c.Op == domain.OpDelete {
			before = &c.Row
		} else {
			after = &c.Row
		}
		src := encSource
		src.TsMs = max(c.SourceTsMs, 0)
		for _, withSchema := range []bool{false, true} {
			v, err := debeziumtest.EncodeStock(c.Op, before, after, src, withSchema, 0)
			if err != nil {
				if c.SourceTsMs > 1<<43 { // beyond what ts_ns can hold
					return
				}
				t.Fatalf("re-encode %+v: %v", c, err)
			}
			back, err := debezium.DecodeStock(v)
			if err != nil || back.Op != c.Op || back.Row != c.Row {
				t.Fatalf("round trip of %+v gave %+v, %v", c, back, err)
			}
		}
	})
}

func FuzzDecodeWarehouse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		_, _ = debezium.DecodeWarehouseKey(value)
		c, err := debezium.DecodeWarehouse(value)
		if err != nil {
			checkErrClass(t, err)
			return
		}
		if !c.Op.Valid() {
			t.Fatalf("invalid op %v", c.Op)
		}
		checkEnvelopeAgrees(t, value, c.Op, c.SourceTsMs)
		if c.Op == domain.OpTruncate {
			if c.Row != (domain.Warehouse{}) {
				t.Fatalf("truncate with a row %+v", c.Row)
			}
			return
		}
		if c.Row.ID <= 0 {
			t.Fatalf("non-positive id %+v", c.Row)
		}
		if !utf8.ValidString(c.Row.Code) || !utf8.ValidString(c.Row.Name) {
			t.Fatalf("invalid UTF-8 in %+v", c.Row)
		}
		var before, after *domain.Warehouse
		if c.Op == domain.OpDelete {
			before = &c.Row
		} else {
			after = &c.Row
		}
		src := encSource
		src.TsMs = max(c.SourceTsMs, 0)
		v, err := debeziumtest.EncodeWarehouse(c.Op, before, after, src, true, 0)
		if err != nil {
			if c.SourceTsMs > 1<<43 {
				return
			}
			t.Fatalf("re-encode %+v: %v", c, err)
		}
		back, err := debezium.DecodeWarehouse(v)
		if err != nil || back.Op != c.Op || back.Row != c.Row {
			t.Fatalf("round trip of %+v gave %+v, %v", c, back, err)
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		env, err := debezium.DecodeEnvelope(value)
		if err != nil {
			checkErrClass(t, err)
			return
		}
		if !json.Valid(value) {
			t.Fatalf("accepted invalid JSON %q", value)
		}
		if !env.Op.Valid() {
			t.Fatalf("invalid op %v", env.Op)
		}
		switch env.Form {
		case debezium.FormWrapped:
			if !env.Wrapped {
				t.Fatal("FormWrapped without Wrapped")
			}
		case debezium.FormBare:
			if env.Wrapped {
				t.Fatal("FormBare with Wrapped")
			}
		case debezium.FormFlattened:
		default:
			t.Fatalf("form %v", env.Form)
		}
		for _, img := range []json.RawMessage{env.Before, env.After} {
			if img == nil {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(img, &m); err != nil {
				t.Fatalf("row image %q is no object: %v", img, err)
			}
		}
		switch env.Op {
		case domain.OpCreate, domain.OpUpdate, domain.OpRead:
			if env.After == nil {
				t.Fatalf("op %v without after", env.Op)
			}
		case domain.OpDelete:
			if env.Before == nil {
				t.Fatal("delete without before")
			}
		}
		src := env.Source
		for _, s := range []string{src.Version, src.Connector, src.Name, src.DB, src.Table, src.Snapshot, src.GTID, src.File} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in source %+v", src)
			}
		}
	})
}
