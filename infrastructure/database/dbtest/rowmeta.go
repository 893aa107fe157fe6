package dbtest

import (
	"database/sql"
	"strings"
	"testing"
)

// RowMetadataFull makes the server write column names and types into every
// binlog table-map event (binlog_row_metadata=FULL), for tests of how the
// relay reads events written before an ALTER. The setting is global: FULL
// only adds to what the other settings write, so tests running alongside
// are not disturbed, and it is never set back (NO_LOG would disturb them).
func RowMetadataFull(t testing.TB, db *sql.DB) {
	t.Helper()
	var v string
	if err := db.QueryRow("SELECT @@global.binlog_row_metadata").Scan(&v); err != nil {
		t.Fatalf("read binlog_row_metadata (MariaDB 10.5+ or MySQL 8.0.1+ has it): %v", err)
	}
	if strings.EqualFold(v, "FULL") {
		return
	}
	if _, err := db.Exec("SET GLOBAL binlog_row_metadata = FULL"); err != nil {
		t.Fatalf("binlog_row_metadata is %s and this user cannot set it to FULL (%v): start the server with --binlog-row-metadata=FULL (scripts/ci/mariadb.sh does)", v, err)
	}
}
