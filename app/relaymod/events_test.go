package relaymod

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// want is one message a key should carry, in order; op 0 is the tombstone.
type want struct {
	op            domain.Op
	before, after map[string]any
	snapshot      string
	row           int64
}

func stockRow(pid, wid, qty, version int64, updated string) map[string]any {
	return map[string]any{
		"product_id": num(pid), "warehouse_id": num(wid), "qty_salable": num(qty),
		"version": num(version), "updated_at": num(micros(updated)),
	}
}

func warehouseRow(id int64, code, name string, active, version int64, updated string) map[string]any {
	return map[string]any{
		"id": num(id), "code": code, "name": name, "is_active": num(active),
		"version": num(version), "updated_at": num(micros(updated)),
	}
}

func num(v int64) json.Number { return json.Number(fmt.Sprint(v)) }

const (
	t1 = "2024-01-02 03:04:05.123456"
	t2 = "2024-01-02 03:04:05.000001"
	t3 = "2024-01-02 03:04:05.654321"
	t4 = "2024-02-03 04:05:06.000007"
	t5 = "2024-02-03 04:05:07.5"
	t6 = "1999-12-31 23:59:59.999999"
	t7 = "2030-06-07 08:09:10"
)

// TestRelayWritesDebeziumEvents: a snapshot, then inserts, updates and
// deletes (single and multi-row statements, a transaction over both
// tables, a primary-key change, writes in another database) come out as
// Debezium would write them, decoded by the project's own decoder.
func TestRelayWritesDebeziumEvents(t *testing.T) {
	t.Parallel()
	const partitions = 3
	h := newHarness(t, partitions)
	h.exec(
		"INSERT INTO warehouses VALUES (1,'W1','North',1,1,'"+t1+"'),(2,'W2','South',0,1,'"+t2+"')",
		"INSERT INTO stock_items VALUES (10,1,5,1,'"+t3+"'),(10,2,7,1,'"+t3+"')",
	)
	started := time.Now()
	startRelay(t, h.cfg)

	// Same tables in another database: not captured.
	_, other := dbtest.MySQLDSN(t)
	if err := other.Exec("INSERT INTO stock_items VALUES (99,1,1,1,'" + t3 + "')").Error; err != nil {
		t.Fatal(err)
	}
	h.exec(
		"INSERT INTO stock_items VALUES (11,1,3,2,'"+t4+"')",
		"UPDATE stock_items SET qty_salable=4, version=3, updated_at='"+t5+"' WHERE product_id=11 AND warehouse_id=1",
		"INSERT INTO stock_items VALUES (12,1,1,4,'"+t6+"'),(12,2,2,4,'"+t6+"'),(12,3,3,4,'"+t6+"')",
		"UPDATE stock_items SET qty_salable=qty_salable+10, version=5 WHERE product_id=12",
	)
	h.tx(
		"UPDATE warehouses SET name='Nord', version=2 WHERE id=1",
		"DELETE FROM stock_items WHERE product_id=10 AND warehouse_id=2",
		"INSERT INTO warehouses VALUES (3,'W3','East',1,1,'"+t7+"')",
	)
	h.exec(
		"DELETE FROM stock_items WHERE product_id=12",
		"UPDATE stock_items SET warehouse_id=9 WHERE product_id=11 AND warehouse_id=1",
	)

	wantStock := map[string][]want{
		`{"product_id":10,"warehouse_id":1}`: {{op: 'r', after: stockRow(10, 1, 5, 1, t3), snapshot: "first"}},
		`{"product_id":10,"warehouse_id":2}`: {
			{op: 'r', after: stockRow(10, 2, 7, 1, t3), snapshot: "last_in_data_collection"},
			{op: 'd', before: stockRow(10, 2, 7, 1, t3)}, {},
		},
		`{"product_id":11,"warehouse_id":1}`: {
			{op: 'c', after: stockRow(11, 1, 3, 2, t4)},
			{op: 'u', before: stockRow(11, 1, 3, 2, t4), after: stockRow(11, 1, 4, 3, t5)},
			{op: 'd', before: stockRow(11, 1, 4, 3, t5)}, {},
		},
		`{"product_id":11,"warehouse_id":9}`: {{op: 'c', after: stockRow(11, 9, 4, 3, t5)}},
	}
	for w := int64(1); w <= 3; w++ {
		wantStock[fmt.Sprintf(`{"product_id":12,"warehouse_id":%d}`, w)] = []want{
			{op: 'c', after: stockRow(12, w, w, 4, t6), row: w - 1},
			{op: 'u', before: stockRow(12, w, w, 4, t6), after: stockRow(12, w, w+10, 5, t6), row: w - 1},
			{op: 'd', before: stockRow(12, w, w+10, 5, t6), row: w - 1}, {},
		}
	}
	wantWarehouse := map[string][]want{
		`{"id":1}`: {
			{op: 'r', after: warehouseRow(1, "W1", "North", 1, 1, t1), snapshot: "first_in_data_collection"},
			{op: 'u', before: warehouseRow(1, "W1", "North", 1, 1, t1), after: warehouseRow(1, "W1", "Nord", 1, 2, t1)},
		},
		`{"id":2}`: {{op: 'r', after: warehouseRow(2, "W2", "South", 0, 1, t2), snapshot: "last"}},
		`{"id":3}`: {{op: 'c', after: warehouseRow(3, "W3", "East", 1, 1, t7)}},
	}

	stock := readTopic(t, h.broker.Addrs(), h.topic("stock_items"), count(wantStock))
	warehouses := readTopic(t, h.broker.Addrs(), h.topic("warehouses"), count(wantWarehouse))
	sources := map[string]debezium.SourceInfo{}
	checkTopic(t, h, "stock_items", stock, wantStock, partitions, started, sources)
	checkTopic(t, h, "warehouses", warehouses, wantWarehouse, partitions, started, sources)

	// Multi-row statements: one binlog event, rows numbered within it.
	for _, op := range []string{"c", "u", "d"} {
		first := sources[`{"product_id":12,"warehouse_id":1}/`+op]
		for w := 2; w <= 3; w++ {
			s := sources[fmt.Sprintf(`{"product_id":12,"warehouse_id":%d}/%s`, w, op)]
			if s.File != first.File || s.Pos != first.Pos || s.GTID != first.GTID {
				t.Errorf("product 12 op %s: row %d at %s:%d (gtid %s), row 0 at %s:%d (gtid %s); want one event", op, w-1, s.File, s.Pos, s.GTID, first.File, first.Pos, first.GTID)
			}
		}
	}
	// The transaction: one GTID, its events in statement order.
	u := sources[`{"id":1}/u`]
	d := sources[`{"product_id":10,"warehouse_id":2}/d`]
	c := sources[`{"id":3}/c`]
	if u.GTID == "" || u.GTID != d.GTID || d.GTID != c.GTID {
		t.Errorf("transaction GTIDs %q %q %q; want one, non-empty", u.GTID, d.GTID, c.GTID)
	}
	if !(u.File == c.File && u.Pos < d.Pos && d.Pos < c.Pos) {
		t.Errorf("transaction positions %s:%d, %s:%d, %s:%d; want increasing in statement order", u.File, u.Pos, d.File, d.Pos, c.File, c.Pos)
	}
	// The snapshot is consistent with one position, before every
	// streamed change. Other tests on the same server rotate the binlog
	// (FLUSH BINARY LOGS), so the two may sit in different files; the
	// numbered file names order them.
	r := sources[`{"id":2}/r`]
	first := sources[`{"product_id":11,"warehouse_id":1}/c`]
	if r.Pos == 0 || r.File > first.File || r.File == first.File && r.Pos > first.Pos {
		t.Errorf("snapshot position %s:%d; want a position before the first streamed change at %s:%d", r.File, r.Pos, first.File, first.Pos)
	}
}

func count(m map[string][]want) int {
	n := 0
	for _, w := range m {
		n += len(w)
	}
	return n
}

// checkTopic compares a topic's messages with the wanted ones key by key,
// and records each event's source block under "<key>/<op>".
func checkTopic(t *testing.T, h *harness, table string, msgs []*sarama.ConsumerMessage, wantByKey map[string][]want,
	partitions int32, started time.Time, sources map[string]debezium.SourceInfo) {
	t.Helper()
	binlogs := h.binlogs()
	byKey := map[string][]*sarama.ConsumerMessage{}
	for _, m := range msgs {
		if p := kafkaproducer.PartitionFor(m.Key, partitions); m.Partition != p {
			t.Errorf("%s key %s on partition %d; murmur2 puts it on %d", table, m.Key, m.Partition, p)
		}
		byKey[string(m.Key)] = append(byKey[string(m.Key)], m)
	}
	for key, wants := range wantByKey {
		got := byKey[key]
		if len(got) != len(wants) {
			t.Errorf("%s key %s: %d messages, want %d", table, key, len(got), len(wants))
			continue
		}
		for i, w := range wants {
			m := got[i]
			where := fmt.Sprintf("%s key %s message %d", table, key, i)
			if w.op == 0 {
				if m.Value != nil {
					t.Errorf("%s: value %s, want a tombstone (null value)", where, m.Value)
				}
				if got[i-1].Partition != m.Partition || got[i-1].Offset+1 != m.Offset {
					t.Errorf("%s: tombstone at offset %d does not directly follow its delete at %d", where, m.Offset, got[i-1].Offset)
				}
				continue
			}
			env, err := debezium.DecodeEnvelope(m.Value)
			if err != nil {
				t.Errorf("%s: %v: %s", where, err, m.Value)
				continue
			}
			if env.Op != w.op || env.Form != debezium.FormBare {
				t.Errorf("%s: op %c form %s, want %c bare", where, env.Op, env.Form, w.op)
			}
			if b := jsonObject(t, env.Before); !reflect.DeepEqual(b, w.before) {
				t.Errorf("%s: before %v, want %v", where, b, w.before)
			}
			if a := jsonObject(t, env.After); !reflect.DeepEqual(a, w.after) {
				t.Errorf("%s: after %v, want %v", where, a, w.after)
			}
			checkSource(t, where, env, h.dsn.Database, table, w, started, binlogs)
			sources[key+"/"+string(rune(env.Op))] = env.Source
			// The project's table decoders read the same event.
			switch table {
			case "stock_items":
				if _, err := debezium.DecodeStock(m.Value); err != nil {
					t.Errorf("%s: DecodeStock: %v", where, err)
				}
			case "warehouses":
				if _, err := debezium.DecodeWarehouse(m.Value); err != nil {
					t.Errorf("%s: DecodeWarehouse: %v", where, err)
				}
			}
		}
	}
	for key := range byKey {
		if _, ok := wantByKey[key]; !ok {
			t.Errorf("%s: unexpected key %s", table, key)
		}
	}
}

func checkSource(t *testing.T, where string, env debezium.Envelope, db, table string, w want, started time.Time, binlogs map[string]bool) {
	t.Helper()
	s := env.Source
	if s.Connector != "mysql" || s.Name != testPrefix || s.DB != db || s.Table != table || s.Version == "" {
		t.Errorf("%s: source connector %q name %q db %q table %q version %q", where, s.Connector, s.Name, s.DB, s.Table, s.Version)
	}
	// The file is one the server names, whatever its log_bin base name.
	if !binlogs[s.File] || s.Pos <= 4 || s.ServerID == 0 {
		t.Errorf("%s: source file %q pos %d server_id %d", where, s.File, s.Pos, s.ServerID)
	}
	wantSnap := w.snapshot
	if wantSnap == "" {
		wantSnap = "false"
	}
	if s.Snapshot != wantSnap || s.Row != w.row {
		t.Errorf("%s: source snapshot %q row %d, want %q row %d", where, s.Snapshot, s.Row, wantSnap, w.row)
	}
	if w.op != 'r' && s.GTID == "" {
		t.Errorf("%s: streamed event without a GTID", where)
	}
	// Binlog times have whole seconds.
	lo, hi := started.Add(-2*time.Second).UnixMilli(), time.Now().Add(time.Second).UnixMilli()
	if s.TsMs < lo || s.TsMs > hi || env.TsMs < s.TsMs {
		t.Errorf("%s: source ts_ms %d, envelope ts_ms %d; want the change time (%d..%d) and a later processing time", where, s.TsMs, env.TsMs, lo, hi)
	}
}
