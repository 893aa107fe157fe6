package database_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// The MySQL driver reports a connection the server dropped in a line of its
// own; it reaches the process's structured log, not stderr as plain text.
func TestMySQLDriverLinesGoToTheProcessLog(t *testing.T) {
	dsn, admin := dbtest.MySQLDSN(t)
	var buf logtest.Buffer
	ctx := context.Background()
	db, err := database.Open(ctx, dsn, database.PoolConfig{MaxOpen: 1, MaxIdle: 1}, nil,
		database.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil)), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = database.Close(db) })
	var id int64
	if err := db.Raw("SELECT CONNECTION_ID()").Row().Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec("KILL ?", id).Error; err != nil {
		t.Fatalf("kill the pool's connection: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "closing bad idle connection") {
		if time.Now().After(deadline) {
			t.Fatalf("no driver line in the log after the server dropped the connection: %q", buf.String())
		}
		_ = db.Exec("SELECT 1").Error // reuses, finds it dead, says so
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range buf.Lines() {
		if strings.Contains(line, "closing bad idle connection") &&
			(!strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"component":"mysql-driver"`)) {
			t.Fatalf("driver line %q: want a WARN record of component mysql-driver", line)
		}
	}
}
