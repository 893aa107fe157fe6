package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

// alterSteps write rows between ALTERs of every kind the relay must read
// through: a column widened (INT -> BIGINT), dropped, renamed, added in the
// middle, made UNSIGNED, a DECIMAL rescaled, a character set changed.
var alterSteps = []string{
	"INSERT INTO shapes VALUES (1, -5, 'café', 12.34, 'x')",
	"UPDATE shapes SET a = -6 WHERE id = 1",
	"ALTER TABLE shapes MODIFY a BIGINT",
	"INSERT INTO shapes VALUES (2, -9000000000, 'é', 1.5, 'y')",
	"ALTER TABLE shapes DROP COLUMN gone",
	"INSERT INTO shapes VALUES (3, 3, 'z', 3)",
	"DELETE FROM shapes WHERE id = 2",
	"ALTER TABLE shapes CHANGE b bee VARCHAR(10) CHARACTER SET latin1",
	"UPDATE shapes SET bee = 'ü', a = 7 WHERE id = 1",
	"ALTER TABLE shapes ADD COLUMN mid VARCHAR(20) NULL AFTER id, MODIFY a BIGINT UNSIGNED, MODIFY c DECIMAL(8,4), MODIFY bee VARCHAR(10) CHARACTER SET utf8mb4",
	"INSERT INTO shapes VALUES (4, 'm', 18446744073709551615, 'ß😀', 1.2345)",
	"UPDATE shapes SET mid = 'n' WHERE id = 3",
}

const shapesTable = "CREATE TABLE shapes (id INT NOT NULL PRIMARY KEY, a INT, b VARCHAR(10) CHARACTER SET latin1, c DECIMAL(6,2), gone VARCHAR(5))"

// shapedChange is a change as the steps above make it: its columns (as
// describe writes them) and its images. The latin1 text decoding right is
// what shows the character set was read.
type shapedChange struct {
	op            domain.Op
	columns       []string
	before, after []string
}

var (
	shape0 = []string{"id int", "a int", "b varchar", "c decimal(6,2)", "gone varchar"}
	shape1 = []string{"id int", "a bigint", "b varchar", "c decimal(6,2)", "gone varchar"}
	shape2 = []string{"id int", "a bigint", "b varchar", "c decimal(6,2)"}
	shape3 = []string{"id int", "a bigint", "bee varchar", "c decimal(6,2)"}
	shape4 = []string{"id int", "mid varchar", "a bigint unsigned", "bee varchar", "c decimal(8,4)"}
)

var alterChanges = []shapedChange{
	{domain.OpCreate, shape0, nil, []string{"1", "-5", "café", "12.34", "x"}},
	{domain.OpUpdate, shape0, []string{"1", "-5", "café", "12.34", "x"}, []string{"1", "-6", "café", "12.34", "x"}},
	{domain.OpCreate, shape1, nil, []string{"2", "-9000000000", "é", "1.50", "y"}},
	{domain.OpCreate, shape2, nil, []string{"3", "3", "z", "3.00"}},
	{domain.OpDelete, shape2, []string{"2", "-9000000000", "é", "1.50"}, nil},
	{domain.OpUpdate, shape3, []string{"1", "-6", "café", "12.34"}, []string{"1", "7", "ü", "12.34"}},
	{domain.OpCreate, shape4, nil, []string{"4", "m", "18446744073709551615", "ß😀", "1.2345"}},
	{domain.OpUpdate, shape4, []string{"3", "NULL", "3", "z", "3.0000"}, []string{"3", "n", "3", "z", "3.0000"}},
}

// TestStreamDecodesEachEventWithItsOwnShape: with binlog_row_metadata=FULL,
// events read only after several ALTERs decode with the shape their own
// table map describes, not with the table's shape now.
func TestStreamDecodesEachEventWithItsOwnShape(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	dbtest.RowMetadataFull(t, d.db)
	d.exec(shapesTable)
	s := d.source("shapes")
	from := current(t, s)
	d.exec(alterSteps...)

	st := startStream(t, s, from)
	got := st.changes(len(alterChanges))
	for i, w := range alterChanges {
		c := got[i]
		if cols := describe(c.Table.Columns, nil); c.Op != w.op || !reflect.DeepEqual(cols, w.columns) {
			t.Errorf("change %d: %c with columns %q; want %c with %q", i, c.Op, cols, w.op, w.columns)
		}
		if b, a := nilOrText(c.Before), nilOrText(c.After); !reflect.DeepEqual(b, w.before) || !reflect.DeepEqual(a, w.after) {
			t.Errorf("change %d: before %q after %q; want %q and %q", i, b, a, w.before, w.after)
		}
		if !reflect.DeepEqual(c.Table.Key, []int{0}) {
			t.Errorf("change %d: key %v, want [0]", i, c.Table.Key)
		}
	}
	// One *relay.Table per shape: the encoder keeps a codec per pointer.
	if got[0].Table != got[1].Table || got[3].Table != got[4].Table || got[1].Table == got[2].Table {
		t.Error("changes of one shape do not share its table, or of two shapes do")
	}
}

// stopAtChange ends a stream that was to refuse its first change.
func stopAtChange(it relay.Item) error {
	if it.Kind == relay.ItemChange {
		return fmt.Errorf("decoded a %c change of %s with columns %q", it.Change.Op, it.Change.Table.Name, describe(it.Change.Table.Columns, nil))
	}
	return nil
}

func nilOrText(r relay.Row) []string {
	if r == nil {
		return nil
	}
	return rowText(r)
}

// TestStreamWithoutRowMetadata: a server that does not write column
// metadata (binlog_row_metadata=NO_LOG, simulated: the setting is global)
// still reads events from before a column was added at the end, and stops
// for good, saying what to set, at events of any other earlier shape.
func TestStreamWithoutRowMetadata(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	d.exec(shapesTable)
	s := d.source("shapes")
	s.ignoreRowMetadata = true
	from := current(t, s)
	d.exec("INSERT INTO shapes VALUES (1, 1, 'a', 1, 'x')",
		"ALTER TABLE shapes ADD COLUMN note VARCHAR(10) NULL",
		"INSERT INTO shapes VALUES (2, 2, 'b', 2, 'y', 'hi')")
	st := startStream(t, s, from)
	old, added := st.changes(1)[0], st.changes(1)[0]
	if len(old.After) != 5 || len(old.Table.Columns) != 5 || string(old.After[4]) != "x" {
		t.Errorf("row from before the ALTER: %v with %d columns", rowText(old.After), len(old.Table.Columns))
	}
	if len(added.After) != 6 || added.Table.Columns[5].Name != "note" || string(added.After[5]) != "hi" {
		t.Errorf("row from after it: %v", rowText(added.After))
	}

	d.exec("ALTER TABLE shapes DROP COLUMN note", "DELETE FROM shapes")
	from = current(t, s)
	d.exec(alterSteps...)
	err := s.Stream(context.Background(), from, stopAtChange)
	if reason, ok := relay.ReasonOf(err); !ok || reason != relay.StopTableChanged {
		t.Fatalf("stream over events of another shape: %v; want a permanent table_changed error", err)
	}
	if !strings.Contains(err.Error(), "binlog_row_metadata=FULL") {
		t.Errorf("the error does not say what to set: %v", err)
	}
}

// TestStreamRefusesWhatOnlyTheSchemaKnows: MariaDB's INET6 reaches the
// binlog as BINARY(16); the table's current shape, the same as the event's,
// tells the relay it cannot write it as the snapshot reads it.
func TestStreamRefusesWhatOnlyTheSchemaKnows(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	dbtest.RowMetadataFull(t, d.db)
	d.exec("CREATE TABLE addrs (id INT NOT NULL PRIMARY KEY, ip INET6)")
	s := d.source("addrs")
	from := current(t, s)
	d.exec("INSERT INTO addrs VALUES (1, '::1')")
	err := s.Stream(context.Background(), from, stopAtChange)
	if reason, _ := relay.ReasonOf(err); reason != relay.StopUnsupported || !strings.Contains(err.Error(), "inet6") {
		t.Fatalf("stream over an INET6 column: %v; want a permanent unsupported error naming the type", err)
	}
}

func TestRowMetadataAdvice(t *testing.T) {
	for _, tc := range []struct {
		setting string
		full    bool
		want    []string
	}{
		{"FULL", true, nil},
		{"full", true, nil},
		{"NO_LOG", false, []string{"binlog_row_metadata is NO_LOG", "SET GLOBAL binlog_row_metadata=FULL", "--binlog-row-metadata=FULL", "altered while the relay is down"}},
		{"MINIMAL", false, []string{"binlog_row_metadata is MINIMAL", "SET GLOBAL binlog_row_metadata=FULL"}},
		{"", false, []string{"MariaDB before 10.5", "altered while the relay is down"}},
	} {
		full, advice := rowMetadataAdvice(tc.setting)
		if full != tc.full {
			t.Errorf("%q: full %v, want %v", tc.setting, full, tc.full)
		}
		for _, w := range tc.want {
			if !strings.Contains(advice, w) {
				t.Errorf("%q: advice %q does not say %q", tc.setting, advice, w)
			}
		}
		if full && advice != "" {
			t.Errorf("%q: advice %q for a good setting", tc.setting, advice)
		}
	}
}

// TestRowMetadataIsReported: what the relay reads of the setting reaches
// the metric hook each time, and the warning with the fix at start and on
// a change to a setting that is not FULL.
func TestRowMetadataIsReported(t *testing.T) {
	var logs logtest.Buffer
	var heard []bool
	s, err := New(Config{DSN: "u@tcp(h:1)/d", ServerID: 9, Tables: []string{"t"},
		RowMetadataFull: func(full bool) { heard = append(heard, full) }}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	warnings := func() int { return strings.Count(logs.String(), "level=WARN") }
	steps := []struct {
		setting  string
		readErr  error
		atStart  bool
		warnings int
	}{
		{"NO_LOG", nil, true, 1},  // start: warned
		{"NO_LOG", nil, false, 1}, // a reconnect, unchanged: not again
		{"FULL", nil, false, 1},   // fixed: nothing to say
		{"NO_LOG", nil, false, 2}, // turned off again: warned
		{"", errors.New("connection lost"), false, 3},
		{"FULL", nil, true, 3},
	}
	for i, st := range steps {
		s.reportRowMetadata(st.setting, st.readErr, st.atStart)
		if warnings() != st.warnings {
			t.Fatalf("step %d (%q): %d warnings, want %d; log:\n%s", i, st.setting, warnings(), st.warnings, logs.String())
		}
	}
	if want := []bool{false, false, true, false, true}; !reflect.DeepEqual(heard, want) {
		t.Errorf("heard %v, want %v", heard, want)
	}
	first := logs.Lines()[0]
	for _, w := range []string{"binlog_row_metadata is NO_LOG", "SET GLOBAL binlog_row_metadata=FULL", "--binlog-row-metadata=FULL", "altered while the relay is down"} {
		if !strings.Contains(first, w) {
			t.Errorf("warning %q does not say %q", first, w)
		}
	}
}

// TestCheckReportsRowMetadata: Check tells what the server writes, and
// warns with the fix exactly when it is not FULL. The test reads the
// setting rather than changing it: it is global, and other tests run.
func TestCheckReportsRowMetadata(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	var setting string
	if err := d.db.QueryRow("SELECT @@global.binlog_row_metadata").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	var heard []bool
	s, err := New(Config{DSN: d.dsn.Raw, ServerID: d.source("stock_items").cfg.ServerID, Tables: []string{"stock_items"},
		RowMetadataFull: func(full bool) { heard = append(heard, full) }}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	full := strings.EqualFold(setting, "FULL")
	if !reflect.DeepEqual(heard, []bool{full}) {
		t.Errorf("heard %v for binlog_row_metadata %s", heard, setting)
	}
	warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "SET GLOBAL binlog_row_metadata=FULL")
	if warned == full {
		t.Errorf("binlog_row_metadata %s: warned %v; log:\n%s", setting, warned, logs.String())
	}

	// A server without the variable (older than MariaDB 10.5, MySQL 8.0.1)
	// is told from one that could not be asked.
	c, end, err := s.session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if v, ok, err := readGlobal(c, "gintoki_no_such_variable"); ok || err != nil || v != "" {
		t.Errorf("unknown variable: %q %v %v; want absent without an error", v, ok, err)
	}
}
