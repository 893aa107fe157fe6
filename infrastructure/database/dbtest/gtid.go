package dbtest

import (
	"context"
	"database/sql"
	"testing"
)

// CommitGTID runs stmts in one transaction on a connection of its own and
// returns the transaction's GTID as MariaDB names it (@@last_gtid of the
// session): what the change events of its rows carry as source.gtid.
func CommitGTID(t testing.TB, db *sql.DB, stmts ...string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			_ = tx.Rollback()
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var g string
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&g); err != nil {
		t.Fatalf("read the transaction's GTID (MariaDB's @@last_gtid): %v", err)
	}
	return g
}
