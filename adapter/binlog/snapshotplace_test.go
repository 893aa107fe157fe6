package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

func TestLastOwnPicksTheServersOwnSource(t *testing.T) {
	const uuidA, uuidB = "3E11FA47-71CA-11E1-9E33-C80AA9429562", "4f8e2b10-0000-11e1-9e33-c80aa9429562"
	cases := []struct {
		name, position, own, want string
	}{
		{"one domain", "0-1-100", "0", "0-1-100"},
		{"the own domain of several", "0-1-100,1-2-7", "1", "1-2-7"},
		{"the own domain, first", " 0-1-100 , 1-2-7 ", "0", "0-1-100"},
		{"one foreign domain: the only one there is", "0-1-100", "3", "0-1-100"},
		{"several foreign domains: none", "0-1-100,1-2-7", "3", ""},
		{"nothing written yet", "", "0", ""},
		{"a MySQL set: its highest transaction", uuidA + ":1-5:11-18", "", uuidA + ":18"},
		{"the own server of a MySQL set, any case", uuidA + ":1-5,\n" + uuidB + ":1-27", strings.ToLower(uuidA), uuidA + ":5"},
		{"several foreign servers: none", uuidA + ":1-5," + uuidB + ":1-27", "", ""},
		{"garbage names nothing", "0-1-100,what", "0", ""},
		{"a bad interval names nothing", uuidA + ":1-x", "", ""},
	}
	for _, tc := range cases {
		if got := lastOwn(tc.position, tc.own); got != tc.want {
			t.Errorf("%s: lastOwn(%q, %q) = %q, want %q", tc.name, tc.position, tc.own, got, tc.want)
		}
	}
}

const levelsTable = "CREATE TABLE levels (sku BIGINT NOT NULL, loc INT NOT NULL, on_hand INT NOT NULL, PRIMARY KEY (sku, loc))"

// TestSnapshotRowsNameTheLastTransactionTheyReflect: every snapshot row
// carries the GTID the database was at when the snapshot was taken (its own
// domain's entry of BINLOG_GTID_POS at the snapshot's binlog position, and of
// @@gtid_binlog_pos when nothing committed meanwhile) and compares, as a read
// node ordering the table by the binlog compares it, newer than every change
// the snapshot reflects and older than a change committed after it.
func TestSnapshotRowsNameTheLastTransactionTheyReflect(t *testing.T) {
	t.Parallel()
	d, src := levels(t)
	from := current(t, src)
	written := dbtest.CommitGTID(t, d.db, "INSERT INTO levels VALUES (1,1,5),(1,2,7)", "UPDATE levels SET on_hand = 6 WHERE sku = 1 AND loc = 1")

	atBefore := d.query("SELECT @@gtid_binlog_pos")
	rows, pos := snapshotOf(t, src)
	atAfter := d.query("SELECT @@gtid_binlog_pos")
	want := d.ownEntry(d.query("SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos))
	if atBefore == atAfter && want != d.ownEntry(atBefore) {
		t.Errorf("BINLOG_GTID_POS at the snapshot names %s, @@gtid_binlog_pos %s", want, atBefore)
	}
	if len(rows) != 2 {
		t.Fatalf("snapshot read %d rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r.Op != domain.OpRead || r.At.GTID != want {
			t.Errorf("snapshot row %s: op %c at %s, want op r naming %s, the database's position at the snapshot", rowText(r.After), r.Op, r.At, want)
		}
	}
	if pos.GTID != want {
		t.Errorf("snapshot position %s, want gtid %s", pos, want)
	}
	if g, w := gtidOf(t, written), gtidOf(t, want); g.Source != w.Source || g.Seq > w.Seq {
		t.Fatalf("the snapshot names %s, before the transaction %s it reflects", want, written)
	}

	after := dbtest.CommitGTID(t, d.db, "UPDATE levels SET on_hand = 9 WHERE sku = 1 AND loc = 2")
	st := startStream(t, src, from)
	changes := st.changes(4)
	for i, c := range changes {
		if wantGTID := map[bool]string{true: written, false: after}[i < 3]; c.At.GTID != wantGTID {
			t.Fatalf("change %d (%c %s) names %s, want %s", i, c.Op, rowText(c.After), c.At.GTID, wantGTID)
		}
	}
	for _, r := range rows {
		for _, c := range changes[:3] {
			if v := domain.ByBinlog.Compare(stampOf(t, c), stampOf(t, r)); v != domain.Newer {
				t.Errorf("snapshot row %s at %s against the change %c at %s:%d row %d it reflects: %d, want newer",
					rowText(r.After), r.At, c.Op, c.At, c.At.Pos, c.RowInEvent, v)
			}
		}
		if v := domain.ByBinlog.Compare(stampOf(t, r), stampOf(t, changes[3])); v != domain.Newer {
			t.Errorf("the change committed after the snapshot, against snapshot row %s: %d, want newer", rowText(r.After), v)
		}
	}
}

// TestSnapshotAfterARotateStaysAfterItsTransaction: when the binlog was
// rotated between the last transaction and the snapshot, the snapshot's
// position lies in a new file, below the positions of that transaction's
// changes; its rows must still compare newer than them.
func TestSnapshotAfterARotateStaysAfterItsTransaction(t *testing.T) {
	t.Parallel()
	d, src := levels(t)
	// Another writer's transaction between ours and the snapshot makes
	// that one the last: try again until ours is.
	for attempt := range 10 {
		from := current(t, src)
		written := dbtest.CommitGTID(t, d.db, fmt.Sprintf("INSERT INTO levels VALUES (%d, 1, 5)", attempt))
		d.exec("FLUSH BINARY LOGS")
		rows, pos := snapshotOf(t, src)
		if pos.GTID != written {
			continue
		}
		st := startStream(t, src, from)
		c := st.changes(1)[0]
		for _, r := range rows {
			if v := domain.ByBinlog.Compare(stampOf(t, c), stampOf(t, r)); v != domain.Newer {
				t.Fatalf("snapshot at %s, rows at %s: against the change at %s row %d it reflects: %d, want newer",
					pos, r.At, c.At, c.RowInEvent, v)
			}
		}
		return
	}
	t.Skip("other writers committed between every try and its snapshot")
}

// levels is a database of the test's own holding the table levels, on
// MariaDB, and a source capturing it.
func levels(t *testing.T) (*testDB, *Source) {
	t.Helper()
	d := newTestDB(t)
	requireMariaDB(t, d.db)
	d.exec(levelsTable)
	return d, d.source("levels")
}

func snapshotOf(t *testing.T, s *Source) ([]*relay.Change, relay.Position) {
	t.Helper()
	var rows []*relay.Change
	pos, err := s.Snapshot(context.Background(), func(c *relay.Change) error {
		rows = append(rows, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, pos
}

// stampOf places a change as a read node does from its source.gtid,
// source.pos and source.row.
func stampOf(t *testing.T, c *relay.Change) domain.Stamp {
	t.Helper()
	g := gtidOf(t, c.At.GTID)
	return domain.Stamp{Src: g.Source, Seq: g.Seq, Sub: domain.SubOf(c.At.Pos, int64(c.RowInEvent))}
}

func gtidOf(t *testing.T, s string) domain.GTID {
	t.Helper()
	g, ok := domain.ParseGTID(s)
	if !ok {
		t.Fatalf("%q is not a GTID", s)
	}
	return g
}

func requireMariaDB(t *testing.T, db *sql.DB) {
	t.Helper()
	var version string
	if err := db.QueryRow("SELECT @@version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		t.Skipf("MariaDB's GTIDs are tested; the server is %s", version)
	}
}

func (d *testDB) query(q string, args ...any) string {
	d.t.Helper()
	var v sql.NullString
	if err := d.db.QueryRow(q, args...).Scan(&v); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

// ownEntry is the entry of the server's own domain in a GTID position.
func (d *testDB) ownEntry(position string) string {
	d.t.Helper()
	dom := d.query("SELECT @@gtid_domain_id")
	for _, e := range strings.Split(position, ",") {
		if e = strings.TrimSpace(e); strings.HasPrefix(e, dom+"-") {
			return e
		}
	}
	d.t.Fatalf("position %q has no entry of domain %s", position, dom)
	return ""
}
