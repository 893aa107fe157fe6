package binlog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"testing"
	"time"

	"vitess.io/vitess/go/mysql"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Guards against a hang only.
const testDeadline = 30 * time.Second

type testDB struct {
	t   *testing.T
	dsn database.DSN
	db  *sql.DB
}

func newTestDB(t *testing.T) *testDB {
	t.Helper()
	dsn, gdb := dbtest.MySQLDSN(t)
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &testDB{t: t, dsn: dsn, db: db}
}

func (d *testDB) exec(stmts ...string) {
	d.t.Helper()
	for _, s := range stmts {
		if _, err := d.db.Exec(s); err != nil {
			d.t.Fatalf("%s: %v", s, err)
		}
	}
}

func (d *testDB) source(tables ...string) *Source {
	d.t.Helper()
	return newSource(d.t, d.dsn.Raw, tables...)
}

func newSource(t *testing.T, dsn string, tables ...string) *Source {
	t.Helper()
	s, err := New(Config{DSN: dsn, ServerID: uint32(100000 + mrand.IntN(1<<30)), Tables: tables, Heartbeat: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustSession connects for queries until the test ends.
func mustSession(t *testing.T, s *Source) *mysql.Conn {
	t.Helper()
	c, end, err := s.session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(end)
	return c
}

func randomName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// stream runs s.Stream from from in the background; items arrive on the
// returned channel until the test ends.
type stream struct {
	t     *testing.T
	items chan relay.Item
	done  chan struct{} // closed when Stream returned, with err set
	err   error
}

func startStream(t *testing.T, s *Source, from relay.Position) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{t: t, items: make(chan relay.Item, 1024), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		st.err = s.Stream(ctx, from, func(it relay.Item) error {
			select {
			case st.items <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-st.done:
		case <-time.After(testDeadline):
			t.Error("stream did not stop")
		}
	})
	return st
}

// next returns the next item of kind, skipping others (the server's other
// databases make commits of their own).
func (st *stream) next(kind relay.ItemKind) relay.Item {
	st.t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case it := <-st.items:
			if it.Kind == kind {
				return it
			}
		case <-st.done:
			st.t.Fatalf("stream ended: %v", st.err)
		case <-deadline:
			st.t.Fatalf("no item of kind %d in time", kind)
		}
	}
}

// changes returns the next n changes.
func (st *stream) changes(n int) []*relay.Change {
	st.t.Helper()
	out := make([]*relay.Change, 0, n)
	for len(out) < n {
		out = append(out, st.next(relay.ItemChange).Change)
	}
	return out
}

func current(t *testing.T, s *Source) relay.Position {
	t.Helper()
	pos, err := s.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func rowText(r relay.Row) []string {
	out := make([]string, len(r))
	for i, v := range r {
		if v == nil {
			out[i] = "NULL"
		} else {
			out[i] = string(v)
		}
	}
	return out
}
