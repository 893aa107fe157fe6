package relaymod

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

// The shop: its own tables, mapped without version columns, so
// read nodes order their changes by the binlog.
const (
	shopLocations = "CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL UNIQUE, enabled TINYINT(1) NOT NULL)"
	shopLevels    = "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, updated_at TIMESTAMP(3) NOT NULL, PRIMARY KEY (sku_id, location_id))"
)

// newShopHarness is a database holding the shop's tables as ddl makes
// them, a broker with their topics, and a relay configuration made by the
// flags from the mapping file, with --relay-tables unset.
func newShopHarness(t *testing.T, partitions int32, ddl ...string) *harness {
	t.Helper()
	dsn, gdb := dbtest.MySQLDSN(t)
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dsn: dsn, gdb: gdb, db: db}
	h.exec(ddl...)
	h.broker, err = kafkabroker.Start(kafkabroker.Topics(partitions, h.topic("inventory_levels"), h.topic("locations")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.broker.Close)
	file := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(file, []byte(shopYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfg, err = parse([]string{
		"--db", "mysql://" + dsn.Raw, "--kafka-brokers", strings.Join(h.broker.Addrs(), ","), "--schema", file,
		"--cdc-topic-prefix", testPrefix, "--server-id", fmt.Sprint(100000 + mrand.IntN(1<<30)),
		"--kafka-client-id", "relay-test", "--relay-checkpoint-topic", "ckpt-" + dsn.Database,
		"--relay-checkpoint-interval", "50ms", "--relay-heartbeat", "1s", "--metrics-addr", "",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// event is a published change as a read node ordering the table by the
// binlog sees it.
type event struct {
	key   string
	env   debezium.Envelope
	stamp domain.Stamp
}

func (e event) String() string {
	s := e.env.Source
	return fmt.Sprintf("%s op %c gtid %s at %s:%d row %d", e.key, e.env.Op, s.GTID, s.File, s.Pos, s.Row)
}

// eventsByKey decodes a topic's messages (sorted by partition and offset,
// so each key's in publishing order), leaving out tombstones.
func eventsByKey(t *testing.T, msgs []*sarama.ConsumerMessage) map[string][]event {
	t.Helper()
	out := map[string][]event{}
	for _, m := range msgs {
		if m.Value == nil {
			continue
		}
		env, err := debezium.DecodeEnvelope(m.Value)
		if err != nil {
			t.Fatalf("key %s: %v: %s", m.Key, err, m.Value)
		}
		g, ok := domain.ParseGTID(env.Source.GTID)
		if !ok {
			t.Fatalf("key %s op %c: source.gtid %q names no transaction: a read node ordering the table by the binlog cannot place it", m.Key, env.Op, env.Source.GTID)
		}
		e := event{key: string(m.Key), env: env,
			stamp: domain.Stamp{Src: g.Source, Seq: g.Seq, Sub: domain.SubOf(uint64(env.Source.Pos), env.Source.Row)}}
		out[e.key] = append(out[e.key], e)
	}
	return out
}

// TestRelayCapturesTheMappedTablesInBinlogOrder: given the shop's mapping
// and no --relay-tables, the relay snapshots and streams the shop's two
// tables to <prefix>.<db>.inventory_levels and .locations, whole rows, and
// every event, snapshot rows included, carries what a read node needs to
// order the changes of a table without a version column: the GTID of its
// transaction, the position of its rows event and its row in it. Two
// changes of one row in one transaction (a delete and a re-insert; two
// UPDATEs; an insert updated twice by one statement) compare in the order
// they were made, and the first change after the snapshot compares newer
// than the snapshot's row.
func TestRelayCapturesTheMappedTablesInBinlogOrder(t *testing.T) {
	t.Parallel()
	h := newShopHarness(t, 3, shopLocations, shopLevels)
	if want := []string{"inventory_levels", "locations"}; !slices.Equal(h.cfg.Tables, want) {
		t.Fatalf("--schema captures %v, want %v", h.cfg.Tables, want)
	}
	for _, table := range []string{"inventory_levels", "locations"} {
		if got, want := h.topic(table), testPrefix+"."+h.dsn.Database+"."+table; got != want {
			t.Fatalf("topic %s, want Debezium's <prefix>.<database>.<table> %s", got, want)
		}
	}
	h.exec("INSERT INTO locations VALUES (1,'NYC',1),(2,'LA',0)",
		"INSERT INTO inventory_levels VALUES (1,1,10,3,'2024-01-02 03:04:05.123'),(1,2,5,0,'2024-01-02 03:04:05.123')")
	startRelay(t, h.cfg)

	gtids := map[string]string{
		`{"sku_id":1,"location_id":1}`: dbtest.CommitGTID(t, h.db, "DELETE FROM inventory_levels WHERE sku_id = 1 AND location_id = 1",
			"INSERT INTO inventory_levels VALUES (1,1,20,0,'2024-01-02 03:04:06')"),
		`{"sku_id":1,"location_id":2}`: dbtest.CommitGTID(t, h.db, "UPDATE inventory_levels SET on_hand = on_hand + 1 WHERE sku_id = 1 AND location_id = 2",
			"UPDATE inventory_levels SET reserved = reserved + 1 WHERE sku_id = 1 AND location_id = 2"),
		`{"sku_id":2,"location_id":1}`: dbtest.CommitGTID(t, h.db, "INSERT INTO inventory_levels VALUES (2,1,1,0,'2024-01-02 03:04:07'),(2,1,2,0,'2024-01-02 03:04:07'),(2,1,3,0,'2024-01-02 03:04:07') ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand)"),
		`{"id":2}`:                     dbtest.CommitGTID(t, h.db, "UPDATE locations SET enabled = 1 WHERE id = 2"),
	}
	wantOps := map[string]string{
		`{"sku_id":1,"location_id":1}`: "rdc", `{"sku_id":1,"location_id":2}`: "ruu", `{"sku_id":2,"location_id":1}`: "cuu",
		`{"id":1}`: "r", `{"id":2}`: "ru",
	}
	levels := eventsByKey(t, readTopic(t, h.broker.Addrs(), h.topic("inventory_levels"), 10)) // 9 events and a tombstone
	locations := eventsByKey(t, readTopic(t, h.broker.Addrs(), h.topic("locations"), 3))
	all := map[string][]event{}
	for k, v := range levels {
		all[k] = v
	}
	for k, v := range locations {
		all[k] = v
	}
	for key, ops := range wantOps {
		events := all[key]
		got := ""
		for _, e := range events {
			got += string(rune(e.env.Op))
		}
		if got != ops {
			t.Errorf("key %s: ops %q, want %q", key, got, ops)
			continue
		}
		checkBinlogOrder(t, h, events, gtids[key])
	}
	last := levels[`{"sku_id":1,"location_id":1}`][2]
	if a := jsonObject(t, last.env.After); fmt.Sprintf("%v %v %v %v", a["sku_id"], a["location_id"], a["on_hand"], a["reserved"]) != "1 1 20 0" || a["updated_at"] == nil {
		t.Errorf("re-inserted row %v; want the whole row", a)
	}
}

// checkBinlogOrder checks one key's events: each streamed one names its
// transaction and sits at a rows event of its kind, and each compares
// newer than the one before it.
func checkBinlogOrder(t *testing.T, h *harness, events []event, gtid string) {
	t.Helper()
	for i, e := range events {
		if e.env.Op == domain.OpRead {
			if e.env.Source.Snapshot == "false" || e.env.Source.Snapshot == "" {
				t.Errorf("%s: a snapshot row not marked as one", e)
			}
		} else {
			if e.env.Source.GTID != gtid {
				t.Errorf("%s: want the GTID %s of its transaction", e, gtid)
			}
			checkRowsEvent(t, h, e)
		}
		if i > 0 {
			if v := domain.ByBinlog.Compare(events[i-1].stamp, e.stamp); v != domain.Newer {
				t.Errorf("%s against the change before it, %s: %d, want newer", e, events[i-1], v)
			}
		}
	}
}

// checkRowsEvent checks that source.file and source.pos name the binlog
// rows event holding the change.
func checkRowsEvent(t *testing.T, h *harness, e event) {
	t.Helper()
	want := map[domain.Op]string{domain.OpCreate: "Write_rows", domain.OpUpdate: "Update_rows", domain.OpDelete: "Delete_rows"}[e.env.Op]
	rows, err := h.db.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT 1", e.env.Source.File, e.env.Source.Pos))
	if err != nil {
		t.Fatalf("%s: %v", e, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]any, len(cols))
	var eventType string
	for i, c := range cols {
		vals[i] = new(any)
		if c == "Event_type" {
			vals[i] = &eventType
		}
	}
	if !rows.Next() {
		t.Fatalf("%s: no binlog event there (%v)", e, rows.Err())
	}
	if err := rows.Scan(vals...); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(eventType, want) {
		t.Errorf("%s: the binlog event there is %s, want a %s event", e, eventType, want)
	}
}

// TestRelayRefusesAMappingThatDoesNotFit: the relay checks the mapping
// against the database at start, as serve does, and stops for good with
// one line that says what to change, before it publishes anything.
func TestRelayRefusesAMappingThatDoesNotFit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ddl    []string
		reason relay.StopReason
		want   string
	}{
		{"missing table", []string{shopLevels}, relay.StopMissingTable,
			"schema mapping: warehouses.table: there is no table locations in the database"},
		{"surrogate key", []string{shopLocations, "CREATE TABLE inventory_levels (id BIGINT NOT NULL PRIMARY KEY, sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, updated_at TIMESTAMP(3) NOT NULL, UNIQUE (sku_id, location_id))"},
			relay.StopSchemaMapping, "schema mapping: stock.table: inventory_levels has the primary key (id); it must be exactly (sku_id, location_id)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newShopHarness(t, 1, tc.ddl...)
			r, cleanup, err := newRelay(h.cfg, prometheus.NewRegistry(), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			err = r.Check(ctx)
			if reason, _ := relay.ReasonOf(err); reason != tc.reason || !strings.Contains(err.Error(), "--schema "+h.cfg.Schema.File+": "+tc.want) ||
				strings.Contains(err.Error(), "\n") {
				t.Fatalf("check: %v (reason %q); want one line saying %q, reason %s", err, reason, tc.want, tc.reason)
			}
			if err := r.Run(ctx); err == nil {
				t.Fatal("the relay ran with a mapping that does not fit")
			}
			if reason, err := r.Halted(); reason != tc.reason || err == nil {
				t.Errorf("halted for %q (%v), want %s", reason, err, tc.reason)
			}
			if n := topicSize(t, h.broker.Addrs(), h.topic("inventory_levels")); n != 0 {
				t.Errorf("%d events published", n)
			}
		})
	}
}

// TestModuleSaysWhyTheMappingWasRefused: under fx, the refusal is the one
// ERROR line an operator reads, with the reason and the fix.
func TestModuleSaysWhyTheMappingWasRefused(t *testing.T) {
	t.Parallel()
	h := newShopHarness(t, 1, shopLocations,
		"CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand VARCHAR(8) NOT NULL, reserved INT NOT NULL, PRIMARY KEY (sku_id, location_id))")
	var logs logtest.Buffer
	app := relayAppLogging(h.cfg, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	var errorLines []string
	waitFor(t, "the ERROR line", func() bool {
		errorLines = errorLines[:0]
		for _, l := range logs.Lines() {
			if strings.Contains(l, "level=ERROR") {
				errorLines = append(errorLines, l)
			}
		}
		return len(errorLines) > 0
	}, nil)
	want := "stock.salable: column inventory_levels.on_hand is varchar(8); it must be an integer type"
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "reason=schema_mapping") || !strings.Contains(errorLines[0], want) ||
		!strings.Contains(errorLines[0], "fix=") {
		t.Errorf("ERROR lines %q; want one with reason=schema_mapping, %q and the fix", errorLines, want)
	}
	if err := app.Stop(ctx); err == nil || !strings.Contains(err.Error(), "stopped for good (schema_mapping)") {
		t.Errorf("stop: %v; want the failure, for the exit status", err)
	}
}

// checkedSource is a relay.Source whose Check answers as told.
type checkedSource struct {
	relay.Source
	err    error
	called bool
}

func (s *checkedSource) Check(context.Context) error {
	s.called = true
	return s.err
}

// A mapping that does not fit stops the relay; a database the mapping
// check could not ask is left to the source's own check, which stops the
// relay on a wrong password and lets it retry an unreachable server.
func TestMappedSourceChecksTheMappingFirst(t *testing.T) {
	refused := relay.Permanent(relay.StopSchemaMapping, errors.New("schema mapping: stock.product: ..."))
	unreachable := errors.New("dial tcp: connection refused")
	denied := relay.Permanent(relay.StopPrivileges, errors.New("access denied"))
	for _, tc := range []struct {
		name              string
		mapping, source   error
		want              error
		wantSourceChecked bool
	}{
		{"both fine", nil, nil, nil, true},
		{"the source refuses", nil, denied, denied, true},
		{"the mapping does not fit", refused, nil, refused, false},
		{"the database refuses the user", unreachable, denied, denied, true},
		{"the database is unreachable", unreachable, nil, unreachable, true},
	} {
		src := &checkedSource{err: tc.source}
		ms := &mappedSource{Source: src, checkMapping: func(context.Context) error { return tc.mapping }}
		if err := ms.Check(context.Background()); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if src.called != tc.wantSourceChecked {
			t.Errorf("%s: source checked %v, want %v", tc.name, src.called, tc.wantSourceChecked)
		}
	}
}
