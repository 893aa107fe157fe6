package database

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"
)

func TestPoolDefaults(t *testing.T) {
	mysqlDSN := DSN{Driver: DriverMySQL}
	fileDSN := DSN{Driver: DriverSQLite, Raw: "a.db?_txlock=immediate"}
	memDSN := DSN{Driver: DriverSQLite, Raw: ":memory:?_txlock=immediate"}
	tests := []struct {
		name string
		dsn  DSN
		in   PoolConfig
		want PoolConfig
	}{
		{"mysql zero", mysqlDSN, PoolConfig{}, PoolConfig{MaxOpen: 16, MaxIdle: 16, ConnMaxLifetime: 5 * time.Minute}},
		{"mysql explicit", mysqlDSN, PoolConfig{MaxOpen: 40, MaxIdle: 10, ConnMaxLifetime: time.Hour}, PoolConfig{MaxOpen: 40, MaxIdle: 10, ConnMaxLifetime: time.Hour}},
		{"idle capped by open", mysqlDSN, PoolConfig{MaxOpen: 4, MaxIdle: 10}, PoolConfig{MaxOpen: 4, MaxIdle: 4, ConnMaxLifetime: 5 * time.Minute}},
		{"sqlite zero", fileDSN, PoolConfig{}, PoolConfig{MaxOpen: 4, MaxIdle: 4}},
		{"sqlite explicit", fileDSN, PoolConfig{MaxOpen: 2, ConnMaxLifetime: time.Minute}, PoolConfig{MaxOpen: 2, MaxIdle: 2, ConnMaxLifetime: time.Minute}},
		{"sqlite memory is one connection", memDSN, PoolConfig{MaxOpen: 8, MaxIdle: 8, ConnMaxLifetime: time.Minute}, PoolConfig{MaxOpen: 1, MaxIdle: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	file := mustParse(t, "sqlite://"+filepath.Join(t.TempDir(), "x.db"))
	tests := []struct {
		name string
		dsn  DSN
		pool PoolConfig
		want string
	}{
		{"negative pool", file, PoolConfig{MaxOpen: -1}, "must not be negative"},
		{"unknown driver", DSN{Driver: "oracle"}, PoolConfig{}, `unknown driver "oracle"`},
		{"zero DSN", DSN{}, PoolConfig{}, "unknown driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(ctx, tt.dsn, tt.pool, nil)
			if err == nil {
				_ = Close(db)
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestOpenUnreachableMySQLFailsWithoutThePassword(t *testing.T) {
	// Port 1 on loopback refuses at once; nothing listens there.
	dsn := mustParse(t, "mysql://app:"+testPassword+"@tcp(127.0.0.1:1)/inv?timeout=2s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, dsn, PoolConfig{}, nil)
	if err == nil {
		_ = Close(db)
		t.Fatal("Open succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), "ping mysql://app:xxxxx@tcp(127.0.0.1:1)/inv") {
		t.Errorf("error %q does not name the redacted DSN", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %q holds the password", err)
	}
}

func TestOpenHonoursAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	db, err := Open(ctx, mustParse(t, "sqlite://"+filepath.Join(t.TempDir(), "x.db")), PoolConfig{}, nil)
	if err == nil {
		_ = Close(db)
		t.Fatal("Open succeeded with a cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestSQLiteFileUsesWALAndLetsReadersRunBesideAWriter(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, "sqlite://"+filepath.Join(t.TempDir(), "wal.db"), nil)

	var mode string
	var busy int
	if err := db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("PRAGMA busy_timeout").Scan(&busy).Error; err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || busy != 5000 {
		t.Errorf("journal_mode=%q busy_timeout=%d, want wal and 5000", mode, busy)
	}

	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if stats := sqlDB.Stats(); stats.MaxOpenConnections != defaultSQLiteMaxOpen {
		t.Errorf("max open connections = %d, want %d", stats.MaxOpenConnections, defaultSQLiteMaxOpen)
	}
	if _, err := sqlDB.ExecContext(ctx, `INSERT INTO warehouses VALUES (1, 'WH-001', 'one', 1, 1, '2024-01-01 00:00:00')`); err != nil {
		t.Fatal(err)
	}
	writer, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Rollback() }()
	if _, err := writer.ExecContext(ctx, `UPDATE warehouses SET name = 'changed' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	// While the write transaction is open, another connection still reads
	// the committed row; without WAL this read would wait for the writer.
	readCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var name string
	if err := sqlDB.QueryRowContext(readCtx, `SELECT name FROM warehouses WHERE id = 1`).Scan(&name); err != nil {
		t.Fatalf("read beside an open write transaction: %v", err)
	}
	if name != "one" {
		t.Errorf("reader saw %q, want the committed value %q", name, "one")
	}
}

func TestSQLiteMemoryKeepsItsDataOnItsOneConnection(t *testing.T) {
	db := openSQLite(t, "sqlite::memory:", nil)
	if err := db.Exec(`INSERT INTO warehouses VALUES (1, 'WH-001', 'one', 1, 1, '2024-01-01 00:00:00')`).Error; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Raw(`SELECT COUNT(*) FROM warehouses`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

func TestOpenWithTracerWrapsStatementsInSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := openSQLite(t, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), tp)

	var n int
	if err := db.Raw(`SELECT COUNT(*) FROM warehouses WHERE id > ?`, 0).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`DELETE FROM no_such_table`).Error; err == nil {
		t.Fatal("statement on a missing table succeeded")
	}

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	want := []struct {
		name  string
		isErr bool
	}{{"db QUERY", false}, {"db EXEC", true}}
	for i, w := range want {
		s := spans[i]
		if s.Name() != w.name {
			t.Errorf("span %d name = %q, want %q", i, s.Name(), w.name)
		}
		attrs := map[attribute.Key]attribute.Value{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value
		}
		if attrs["db.system"].AsString() != DriverSQLite {
			t.Errorf("span %q db.system = %q", s.Name(), attrs["db.system"].AsString())
		}
		if !strings.Contains(attrs["db.statement"].AsString(), "warehouses") && !w.isErr {
			t.Errorf("span %q statement = %q", s.Name(), attrs["db.statement"].AsString())
		}
		if gotErr := s.Status().Code.String() == "Error"; gotErr != w.isErr {
			t.Errorf("span %q error status = %v, want %v", s.Name(), gotErr, w.isErr)
		}
	}
}

func TestWithLoggerLogsSlowStatementsWithoutArguments(t *testing.T) {
	var buf logtest.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := context.Background()
	dsn := mustParse(t, "sqlite://"+filepath.Join(t.TempDir(), "l.db"))
	// A 1ns threshold makes every statement "slow".
	db, err := Open(ctx, dsn, PoolConfig{}, nil, WithLogger(logger, time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(db) })
	if err := db.Exec(`SELECT ?`, "argument-value-7781").Error; err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "SQL executed") {
		t.Errorf("slow statement not logged: %q", out)
	}
	if strings.Contains(out, "argument-value-7781") {
		t.Errorf("log holds an argument value: %q", out)
	}
}

func TestDefaultLoggerIsSilent(t *testing.T) {
	var buf logtest.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	db := openSQLite(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), nil)
	_ = db.Exec(`DELETE FROM no_such_table`).Error
	if err := db.Exec(`SELECT 1`).Error; err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Errorf("default logger wrote %q", buf.String())
	}
}

func openSQLite(t *testing.T, raw string, tp *sdktrace.TracerProvider) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	dsn := mustParse(t, raw)
	var db *gorm.DB
	var err error
	if tp == nil {
		db, err = Open(ctx, dsn, PoolConfig{}, nil)
	} else {
		db, err = Open(ctx, dsn, PoolConfig{}, tp)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(db) })
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

func mustParse(t *testing.T, raw string) DSN {
	t.Helper()
	d, err := ParseDSN(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
