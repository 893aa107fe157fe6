package debezium_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// fixtureWant is what a documentation fixture must decode to.
type fixtureWant struct {
	err        error // a sentinel, or nil
	form       debezium.Form
	wrapped    bool
	op         domain.Op
	snapshot   string
	db, table  string
	sourceTsMs int64
	tsMs       int64
	file       string
	pos        int64
	hasBefore  bool
	hasAfter   bool
	rowID      int64 // "id" of the row image the domain would use
}

var fixtures = map[string]fixtureWant{
	"mysql-create-with-schema.json": {
		form: debezium.FormWrapped, wrapped: true, op: domain.OpCreate, snapshot: "false",
		db: "inventory", table: "customers", tsMs: 1465491411815, file: "mysql-bin.000003", pos: 154,
		hasAfter: true, rowID: 1004,
	},
	"mysql-update-with-schema.json": {
		form: debezium.FormWrapped, wrapped: true, op: domain.OpUpdate, snapshot: "false",
		db: "inventory", table: "customers", sourceTsMs: 1465581029100, tsMs: 1465581029523,
		file: "mysql-bin.000003", pos: 484, hasBefore: true, hasAfter: true, rowID: 1004,
	},
	"mysql-delete-with-schema.json": {
		form: debezium.FormWrapped, wrapped: true, op: domain.OpDelete, snapshot: "false",
		db: "inventory", table: "customers", sourceTsMs: 1465581902300, tsMs: 1465581902461,
		file: "mysql-bin.000003", pos: 805, hasBefore: true, rowID: 1004,
	},
	"mysql-snapshot-read-with-schema.json": {
		form: debezium.FormWrapped, wrapped: true, op: domain.OpRead, snapshot: "true",
		db: "inventory", table: "customers", tsMs: 1486500577691, file: "mysql-bin.000003", pos: 154,
		hasAfter: true, rowID: 1004,
	},
	"mysql-truncate-no-schema.json": {
		form: debezium.FormBare, op: domain.OpTruncate, snapshot: "false",
		db: "inventory", table: "customers", sourceTsMs: 1465581029100, tsMs: 1465581029523,
		file: "mysql-bin.000003", pos: 484,
	},
	"mysql-update-no-schema.json": {
		form: debezium.FormBare, op: domain.OpUpdate, snapshot: "false",
		db: "inventory", table: "customers", sourceTsMs: 1646300467000, tsMs: 1646300467746,
		file: "mysql-bin.000003", pos: 401, hasBefore: true, hasAfter: true, rowID: 1001,
	},
	"mysql-unwrapped-update-derived.json": {
		form: debezium.FormFlattened, op: domain.OpUpdate, table: "customers", sourceTsMs: 1465581029100,
		hasAfter: true, rowID: 1004,
	},
	"mysql-unwrapped-delete-rewrite-derived.json": {
		form: debezium.FormFlattened, op: domain.OpDelete, table: "customers", sourceTsMs: 1465581902300,
		hasBefore: true, rowID: 1004,
	},
	"unwrapped-delete-rewrite-doc.json": {
		form: debezium.FormFlattened, op: domain.OpDelete, hasBefore: true,
	},
	"mysql-transaction-end.json": {err: debezium.ErrNotRowEvent},
	// Checked by TestFixtureKeys and TestFixtureTombstone: a key, and a
	// record wrapper of ours around a null value.
	"mysql-key-with-schema.json":  {},
	"mysql-tombstone-record.json": {},
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixturesAllCovered keeps the table above in step with testdata: a new
// fixture without expectations fails here.
func TestFixturesAllCovered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(fixtures) {
		t.Errorf("testdata has %d fixtures, the table %d", len(files), len(fixtures))
	}
	for _, f := range files {
		if _, ok := fixtures[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no expectation", filepath.Base(f))
		}
	}
}

func TestFixtureEnvelopes(t *testing.T) {
	for name, want := range fixtures {
		if name == "mysql-key-with-schema.json" || name == "mysql-tombstone-record.json" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			env, err := debezium.DecodeEnvelope(readFixture(t, name))
			if want.err != nil {
				if !errors.Is(err, want.err) {
					t.Fatalf("err = %v, want %v", err, want.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			if env.Form != want.form || env.Wrapped != want.wrapped || env.Op != want.op {
				t.Errorf("form %v wrapped %v op %v, want %v %v %v", env.Form, env.Wrapped, env.Op, want.form, want.wrapped, want.op)
			}
			src := env.Source
			if src.Snapshot != want.snapshot || src.DB != want.db || src.Table != want.table {
				t.Errorf("source snapshot %q db %q table %q, want %q %q %q", src.Snapshot, src.DB, src.Table, want.snapshot, want.db, want.table)
			}
			if src.TsMs != want.sourceTsMs || env.TsMs != want.tsMs || src.File != want.file || src.Pos != want.pos {
				t.Errorf("source ts_ms %d ts_ms %d file %q pos %d, want %d %d %q %d",
					src.TsMs, env.TsMs, src.File, src.Pos, want.sourceTsMs, want.tsMs, want.file, want.pos)
			}
			if (env.Before != nil) != want.hasBefore || (env.After != nil) != want.hasAfter {
				t.Errorf("before %s after %s, want before %v after %v", env.Before, env.After, want.hasBefore, want.hasAfter)
			}
			if want.rowID == 0 {
				return
			}
			img := env.After
			if env.Op == domain.OpDelete {
				img = env.Before
			}
			var row struct{ ID int64 }
			if err := json.Unmarshal(img, &row); err != nil || row.ID != want.rowID {
				t.Errorf("row image %s: id %d (err %v), want %d", img, row.ID, err, want.rowID)
			}
		})
	}
}

func TestFixtureSourceDetails(t *testing.T) {
	env, err := debezium.DecodeEnvelope(readFixture(t, "mysql-delete-with-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := debezium.SourceInfo{
		Version: "3.7.0.Alpha2", Connector: "mysql", Name: "mysql-server-1", DB: "inventory", Table: "customers",
		Snapshot: "false", TsMs: 1465581902300, ServerID: 223344, File: "mysql-bin.000003", Pos: 805, Thread: 7,
	}
	if env.Source != want {
		t.Errorf("source = %+v\nwant     %+v", env.Source, want)
	}
	if isSnapshot(env.Source) {
		t.Error("a streamed delete reports a snapshot")
	}

	// The tutorial's old layout: no connector, ts_sec, thread null.
	env, err = debezium.DecodeEnvelope(readFixture(t, "mysql-snapshot-read-with-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if env.Source.Connector != "" || env.Source.Name != "dbserver1" || env.Source.Thread != 0 || !isSnapshot(env.Source) {
		t.Errorf("old-layout source = %+v", env.Source)
	}
}

func TestFixtureKeys(t *testing.T) {
	key := readFixture(t, "mysql-key-with-schema.json")
	id, err := debezium.DecodeWarehouseKey(key)
	if err != nil || id != 1001 {
		t.Errorf("DecodeWarehouseKey = %d, %v; want 1001", id, err)
	}
	// It is a customers key: as a stock key it lacks the stock columns.
	if _, _, err := debezium.DecodeStockKey(key); !errors.Is(err, debezium.ErrMalformed) {
		t.Errorf("DecodeStockKey of a customers key: err = %v, want ErrMalformed", err)
	}
}

func TestFixtureTombstone(t *testing.T) {
	var rec struct {
		Topic string
		Key   json.RawMessage
		Value json.RawMessage
	}
	if err := json.Unmarshal(readFixture(t, "mysql-tombstone-record.json"), &rec); err != nil {
		t.Fatal(err)
	}
	// The record carries JSON null; Kafka hands a consumer a nil value. Both
	// are a tombstone.
	for _, value := range [][]byte{rec.Value, nil} {
		if _, err := debezium.DecodeEnvelope(value); !errors.Is(err, debezium.ErrTombstone) {
			t.Errorf("DecodeEnvelope(%q) err = %v, want ErrTombstone", value, err)
		}
		if _, err := debezium.DecodeStock(value); !errors.Is(err, debezium.ErrTombstone) {
			t.Errorf("DecodeStock(%q) err = %v, want ErrTombstone", value, err)
		}
	}
	id, err := debezium.DecodeWarehouseKey(rec.Key)
	if err != nil || id != 1004 {
		t.Errorf("tombstone key = %d, %v; want 1004", id, err)
	}
}

// isSnapshot reports whether the event comes from a snapshot, not the binlog.
func isSnapshot(s debezium.SourceInfo) bool { return s.Snapshot != "" && s.Snapshot != "false" }
