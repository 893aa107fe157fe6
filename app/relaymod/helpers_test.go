package relaymod

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
	"github.com/go-sql-driver/mysql"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/relay"

	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/polltest"
)

const (
	testPrefix = "gtest"
	// Guards against a hang only; no test measures time against it.
	testDeadline = 45 * time.Second
)

// harness is a migrated MariaDB database with the binlog on, and a broker
// with its change topics.
type harness struct {
	t      *testing.T
	dsn    database.DSN
	gdb    *gorm.DB
	db     *sql.DB
	broker *kafkabroker.Broker
	cfg    Config
}

func newHarness(t *testing.T, partitions int32) *harness {
	t.Helper()
	dsn, gdb := dbtest.MySQLDSN(t)
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	broker, err := kafkabroker.Start(kafkabroker.Topics(partitions,
		kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "stock_items"),
		kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "warehouses")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return &harness{t: t, dsn: dsn, gdb: gdb, db: db, broker: broker, cfg: testConfig(dsn, broker.Addrs())}
}

// testConfig is a relay configuration as the flags would make it, with a
// server id of its own so parallel tests do not evict each other.
func testConfig(dsn database.DSN, brokers []string) Config {
	return Config{
		DSN: "mysql://" + dsn.Raw, ServerID: 100000 + mrand.IntN(1<<30),
		Tables: []string{"stock_items", "warehouses"}, TopicPrefix: testPrefix,
		KafkaClient: config.KafkaClient{Brokers: brokers, Version: "2.8.0", ClientID: "relay-test"},
		Snapshot:    "initial", CheckpointTopic: "ckpt-" + dsn.Database,
		CheckpointEvery: 50 * time.Millisecond, MaxBatch: 500, Heartbeat: time.Second,
	}
}

// cutOff is the harness's relay configuration with MySQL reached through a
// proxy the test can cut, streaming only (no snapshot).
func (h *harness) cutOff() (Config, *dbtest.CutProxy) {
	h.t.Helper()
	mc, err := mysql.ParseDSN(h.dsn.Raw)
	if err != nil {
		h.t.Fatal(err)
	}
	proxy := dbtest.NewCutProxy(h.t, mc.Addr)
	mc.Addr = proxy.Addr
	cfg := h.cfg
	cfg.DSN = "mysql://" + mc.FormatDSN()
	cfg.Snapshot = "never"
	return cfg, proxy
}

func (h *harness) topic(table string) string {
	return kafkaproducer.ChangeTopic(testPrefix, h.dsn.Database, table)
}

// binlogs is the set of binary log files the server names.
func (h *harness) binlogs() map[string]bool {
	h.t.Helper()
	rows, err := h.db.Query("SHOW BINARY LOGS")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	names := map[string]bool{}
	for rows.Next() {
		dst := make([]any, len(cols))
		var name string
		dst[0] = &name
		for i := 1; i < len(cols); i++ {
			dst[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dst...); err != nil {
			h.t.Fatal(err)
		}
		names[name] = true
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return names
}

func (h *harness) exec(stmts ...string) {
	h.t.Helper()
	for _, s := range stmts {
		if _, err := h.db.Exec(s); err != nil {
			h.t.Fatalf("%s: %v", s, err)
		}
	}
}

// tx runs stmts in one transaction.
func (h *harness) tx(stmts ...string) {
	h.t.Helper()
	tx, err := h.db.Begin()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			_ = tx.Rollback()
			h.t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

// running is a relay started in this process.
type running struct {
	relay  *relay.Relay
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startRelay builds the relay as the module does and runs it until the
// test ends or stop is called; it returns once the relay streams.
func startRelay(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, cleanup, err := newRelay(cfg, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{relay: r, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := r.Run(ctx)
		cleanup()
		rr.done <- err
	}()
	t.Cleanup(func() { rr.stop(t) })
	waitFor(t, "relay streaming", func() bool { return r.Ready() == nil }, rr.done)
	return rr
}

func (rr *running) stop(t *testing.T) {
	t.Helper()
	if rr.cancel == nil {
		return
	}
	rr.cancel()
	rr.cancel = nil
	select {
	case err := <-rr.done:
		if err != nil {
			t.Errorf("relay: %v", err)
		}
	case <-time.After(testDeadline):
		t.Error("relay did not stop")
	}
}

// testLogger writes to the test log only when the test fails or -v is on,
// through a writer the test owns.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// jsonObject decodes a row image keeping integers exact.
func jsonObject(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	if raw == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

func micros(s string) int64 {
	ts, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		panic(err)
	}
	return ts.UnixMicro()
}

// readTopic reads the n messages topic must hold, sorted by partition and
// offset, and fails when fewer arrive or more follow.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	got, err := kafkatest.Read(ctx, brokers, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing more may follow: give stray messages a moment to show.
	time.Sleep(200 * time.Millisecond)
	if size := topicSize(t, brokers, topic); size != int64(n) {
		t.Fatalf("%s holds %d messages, want %d", topic, size, n)
	}
	return got
}

// readAll reads what topic holds now.
func readAll(t *testing.T, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	got, err := kafkatest.ReadToEnd(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	n, err := kafkatest.TopicSize(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor waits for cond, stopping at once when failed (a relay's end)
// delivers an error.
func waitFor(t *testing.T, what string, cond func() bool, failed <-chan error) {
	t.Helper()
	polltest.Until(t, testDeadline, what, cond, polltest.Failed(failed))
}
