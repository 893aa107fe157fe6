package dbtest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The proxy counts what a client sends through it: a connection's
// handshake is no statement, a ping is a ping, a query and a prepared
// statement's prepare and execute are statements; cut, nothing gets
// through; restored, it counts on.
func TestCutProxyCountsTheStatementsItForwards(t *testing.T) {
	dsn, _ := MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := NewCutProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr
	cfg.Logger = &mysql.NopLogger{} // the connection the cut drops is expected
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if s, p := proxy.Statements(), proxy.Pings(); s != 0 || p != 1 {
		t.Fatalf("after connecting and a ping: %d statements, %d pings; want 0, 1", s, p)
	}
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT ?", 2).Scan(&one); err != nil { // prepared, executed, closed
		t.Fatal(err)
	}
	// A query, and a prepare, an execute and a close: the close has no
	// answer, so the driver does not wait for it and the proxy may count it
	// a moment later.
	polltest.Until(t, 2*time.Second, "4 statements counted after a query and a prepared one", func() bool {
		return proxy.Statements() == 4
	})
	proxy.Cut()
	before := proxy.Statements()
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Fatal("a query got through a cut proxy")
	}
	if s := proxy.Statements(); s != before {
		t.Fatalf("a cut proxy counted %d statements", s-before)
	}
	proxy.Restore(t)
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	if s := proxy.Statements(); s != before+1 {
		t.Fatalf("after the proxy was restored, a query counted %d statements, want 1", s-before)
	}
}
