package binlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

const typesTable = `CREATE TABLE types (
	id BIGINT NOT NULL PRIMARY KEY,
	neg BIGINT, ubig BIGINT UNSIGNED, i INT, ti TINYINT(1), us SMALLINT UNSIGNED, mi MEDIUMINT,
	dec1 DECIMAL(10,2), dec0 DECIMAL(5,0),
	d DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts3 TIMESTAMP(3) NULL, tm TIME(6), y YEAR, uy INT UNSIGNED,
	vc VARCHAR(20) CHARACTER SET utf8mb4, ch CHAR(4), l1 VARCHAR(10) CHARACTER SET latin1,
	vb VARBINARY(8), bl BLOB, tx TEXT, b1 BIT(1), b10 BIT(10), f FLOAT, db DOUBLE, js JSON
)`

// TestStreamDecodesEveryTypeAsTheSnapshotReadsIt: the binlog decoder and
// the snapshot's text-protocol read must give the same bytes for the same
// row, since one encoder serves both; the shape a table map describes with
// binlog_row_metadata=FULL must be the one information_schema gives.
func TestStreamDecodesEveryTypeAsTheSnapshotReadsIt(t *testing.T) {
	t.Parallel()
	checkEveryType(t, true)
}

// TestStreamDecodesEveryTypeWithoutRowMetadata: the same, from
// information_schema, as without binlog_row_metadata=FULL.
func TestStreamDecodesEveryTypeWithoutRowMetadata(t *testing.T) {
	t.Parallel()
	checkEveryType(t, false)
}

func checkEveryType(t *testing.T, rowMetadata bool) {
	d := newTestDB(t)
	if rowMetadata {
		dbtest.RowMetadataFull(t, d.db)
	}
	d.exec(typesTable)
	s := d.source("types")
	s.ignoreRowMetadata = !rowMetadata
	st := startStream(t, s, current(t, s))
	st.next(relay.ItemStreaming)
	d.exec(`INSERT INTO types VALUES (1, -9223372036854775808, 18446744073709551615, -2147483648, 1, 65535, -8388608,
		-12345678.90, 0, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.000001',
		'2024-02-29 12:00:00.5', '-12:34:56.789012', 2024, 4294967295, 'héllo 😀', 'ab', 'café', 0x00FF10, 0xDEADBEEF, 'text',
		b'1', b'1000000001', 1.5, 2.25, '{"a": [1, 2]}'),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	streamed := st.changes(2)
	commit := st.next(relay.ItemCommit)

	snap, pos := snapshotOf(t, s)
	if len(snap) != 2 {
		t.Fatalf("snapshot read %d rows, want 2", len(snap))
	}
	if pos.File != commit.Resume.File || pos.Pos < commit.Resume.Pos {
		t.Errorf("snapshot at %s, after the insert committed at %s", pos, commit.Resume)
	}
	for i := range 2 {
		c := streamed[i]
		if c.Op != domain.OpCreate || c.Before != nil || c.RowInEvent != i || c.Table.Name != "types" {
			t.Errorf("row %d: op %c before %v row %d table %s", i, c.Op, c.Before, c.RowInEvent, c.Table.Name)
		}
		if got, want := rowText(c.After), rowText(snap[i].After); !reflect.DeepEqual(got, want) {
			for j := range got {
				if got[j] != want[j] {
					t.Errorf("row %d column %s: binlog %q, snapshot %q", i, c.Table.Columns[j].Name, got[j], want[j])
				}
			}
		}
		// Where snapshot rows stand is TestSnapshotRowsNameTheLastTransactionTheyReflect's.
		if snap[i].Op != domain.OpRead || snap[i].At.GTID != pos.GTID {
			t.Errorf("snapshot row %d: op %c at %s, want r at gtid %s", i, snap[i].Op, snap[i].At, pos.GTID)
		}
	}
	want := map[string]string{
		"neg": "-9223372036854775808", "ubig": "18446744073709551615", "ti": "1", "us": "65535", "mi": "-8388608",
		"dec1": "-12345678.90", "dec0": "0", "d": "2024-02-29", "dt0": "2024-02-29 23:59:59",
		"dt3": "2024-02-29 23:59:59.123", "dt6": "2024-02-29 23:59:59.000001", "ts3": "2024-02-29 12:00:00.500",
		"tm": "-12:34:56.789012", "y": "2024", "uy": "4294967295", "vc": "héllo 😀", "ch": "ab", "l1": "café",
		"vb": "\x00\xff\x10", "bl": "\xde\xad\xbe\xef", "b1": "\x01", "b10": "\x02\x01", "f": "1.5", "db": "2.25",
		"js": `{"a": [1, 2]}`,
	}
	row := streamed[0]
	for j, col := range row.Table.Columns {
		if w, ok := want[col.Name]; ok && string(row.After[j]) != w {
			t.Errorf("column %s: %q, want %q", col.Name, row.After[j], w)
		}
		if j > 0 && streamed[1].After[j] != nil {
			t.Errorf("column %s of the NULL row: %q, want NULL", col.Name, streamed[1].After[j])
		}
	}
	if got := row.Table.Key; !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("key columns %v, want [0]", got)
	}
	schema, err := loadTable(mustSession(t, s), d.dsn.Database, "types")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(row.Table.Columns, nil), describe(schema.table.Columns, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("streamed shape\n%q\ninformation_schema's\n%q", got, want)
	}
	for j, col := range row.Table.Columns {
		if col.Nullable != schema.table.Columns[j].Nullable {
			t.Errorf("column %s: nullable %v, information_schema says %v", col.Name, col.Nullable, schema.table.Columns[j].Nullable)
		}
	}
}

// TestStreamReportsTransactionsAndPositions: one item per row, the commit
// after the transaction's last row, positions that locate the events.
func TestStreamReportsTransactionsAndPositions(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	s := d.source("stock_items", "warehouses")
	from := current(t, s)
	st := startStream(t, s, from)
	st.next(relay.ItemStreaming)

	tx, err := d.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO warehouses VALUES (1,'W1','One',1,1,'2024-01-01 00:00:00')",
		"INSERT INTO stock_items VALUES (1,1,5,1,'2024-01-01 00:00:00'),(2,1,6,1,'2024-01-01 00:00:00')",
		"UPDATE stock_items SET qty_salable=7, version=2 WHERE product_id=1",
		"DELETE FROM stock_items WHERE product_id=2",
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	changes := st.changes(5)
	// The commit after this transaction's last row is its own: nothing
	// interleaves with a transaction in the binlog.
	commit := st.next(relay.ItemCommit)
	ops := ""
	for _, c := range changes {
		ops += string(rune(c.Op))
		if c.At.File != from.File || c.At.Pos <= from.Pos || c.At.GTID == "" || c.ServerID == 0 || c.Time.IsZero() {
			t.Errorf("%c change at %+v server %d time %s", c.Op, c.At, c.ServerID, c.Time)
		}
		if c.At.GTID != changes[0].At.GTID {
			t.Errorf("one transaction, GTIDs %s and %s", c.At.GTID, changes[0].At.GTID)
		}
	}
	if ops != "cccud" {
		t.Fatalf("ops %q, want cccud", ops)
	}
	u, del := changes[3], changes[4]
	if string(u.Before[2]) != "5" || string(u.After[2]) != "7" || u.After[3] == nil {
		t.Errorf("update images %v -> %v", rowText(u.Before), rowText(u.After))
	}
	if del.After != nil || string(del.Before[0]) != "2" {
		t.Errorf("delete images %v -> %v", rowText(del.Before), rowText(del.After))
	}
	if changes[1].At != changes[2].At || changes[2].RowInEvent != 1 {
		t.Errorf("two rows of one statement: %+v row %d, %+v row %d", changes[1].At, changes[1].RowInEvent, changes[2].At, changes[2].RowInEvent)
	}
	if commit.Resume.Pos <= del.At.Pos || commit.Resume.GTID != del.At.GTID {
		t.Errorf("commit resumes at %s, after the delete at %s", commit.Resume, del.At)
	}

	// Resuming at the commit starts with what came after it.
	d.exec("INSERT INTO stock_items VALUES (3,1,1,1,'2024-01-01 00:00:00')")
	again := startStream(t, s, commit.Resume)
	if c := again.next(relay.ItemChange).Change; c.Op != domain.OpCreate || string(c.After[0]) != "3" {
		t.Fatalf("resumed stream starts with %c %v, want the insert of product 3", c.Op, rowText(c.After))
	}
}

// TestSnapshotMatchesItsBinlogPosition: while updates run, the snapshot's
// rows plus the binlog from its position replay to exactly the final
// table: every streamed update's before-image is the state the snapshot
// and earlier events produced, so nothing is missing or counted twice.
func TestSnapshotMatchesItsBinlogPosition(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	const rows = 50
	stmt := "INSERT INTO stock_items VALUES "
	for p := 1; p <= rows; p++ {
		if p > 1 {
			stmt += ","
		}
		stmt += fmt.Sprintf("(%d,1,0,0,'2024-01-01 00:00:00')", p)
	}
	d.exec(stmt)
	s := d.source("stock_items")

	var version atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := version.Add(1)
				if _, err := d.db.Exec("UPDATE stock_items SET qty_salable=?, version=? WHERE product_id=? AND warehouse_id=1", v, v, r.IntN(rows)+1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for version.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	state := map[string]string{}
	pos, err := s.Snapshot(context.Background(), func(c *relay.Change) error {
		state[string(c.After[0])] = string(c.After[3])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for at := version.Load(); version.Load() < at+100; {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()

	final := map[string]string{}
	res, err := d.db.Query("SELECT product_id, version FROM stock_items")
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var p, v int64
		if err := res.Scan(&p, &v); err != nil {
			t.Fatal(err)
		}
		final[strconv.FormatInt(p, 10)] = strconv.FormatInt(v, 10)
	}
	if len(state) != rows {
		t.Fatalf("snapshot read %d rows, want %d", len(state), rows)
	}
	st := startStream(t, s, pos)
	replayed := 0
	for !reflect.DeepEqual(state, final) {
		c := st.next(relay.ItemChange).Change
		p := string(c.Before[0])
		if got := state[p]; got != string(c.Before[3]) {
			t.Fatalf("product %s: streamed update from version %s, but the snapshot and earlier events left version %s (after %d events from %s)",
				p, c.Before[3], got, replayed, pos)
		}
		state[p] = string(c.After[3])
		replayed++
	}
	t.Logf("snapshot at %s plus %d streamed updates replay to the final table", pos, replayed)
}

// TestStreamPassesHeartbeatsOn: an idle server's heartbeats reach the
// relay, stamped with the time they were heard.
func TestStreamPassesHeartbeatsOn(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	s, err := New(Config{DSN: d.dsn.Raw, ServerID: uint32(100000 + rand.IntN(1<<30)), Tables: []string{"stock_items"},
		Heartbeat: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := startStream(t, s, current(t, s))
	st.next(relay.ItemStreaming)
	before := time.Now()
	for range 3 {
		hb := st.next(relay.ItemHeartbeat)
		if hb.Time.Before(before) || hb.Time.After(time.Now()) {
			t.Fatalf("heartbeat stamped %v, want the time it was heard (after %v)", hb.Time, before)
		}
		before = hb.Time
	}
}

// freezingProxy forwards TCP to the server until frozen; then it holds
// every byte without closing anything, as a network partition would.
type freezingProxy struct {
	ln     net.Listener
	frozen chan struct{}
	once   sync.Once
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, frozen: make(chan struct{})}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			go p.pipe(server, client)
			go p.pipe(client, server)
		}
	}()
	return p
}

func (p *freezingProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
			return // hold the bytes; leave both connections open
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezingProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

// TestStreamNoticesASilentServer: when the server stops answering without
// closing the connection, the missing heartbeats end the stream.
func TestStreamNoticesASilentServer(t *testing.T) {
	t.Parallel()
	d := newTestDB(t)
	cfg, err := gomysql.ParseDSN(d.dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFreezingProxy(t, cfg.Addr)
	cfg.Addr = proxy.ln.Addr().String()
	s, err := New(Config{DSN: cfg.FormatDSN(), ServerID: uint32(100000 + rand.IntN(1<<30)), Tables: []string{"stock_items"},
		Heartbeat: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := startStream(t, s, current(t, s))
	st.next(relay.ItemStreaming)
	proxy.freeze()
	select {
	case <-st.done:
		if st.err == nil || !strings.Contains(st.err.Error(), "not even a heartbeat") || relay.IsPermanent(st.err) {
			t.Fatalf("stream ended with %v; want a retryable error about the silence", st.err)
		}
	case <-time.After(testDeadline):
		t.Fatal("a silent server went unnoticed")
	}
}
