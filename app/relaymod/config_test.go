package relaymod

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/usecase/relay"
)

func parse(args []string, env map[string]string) (Config, error) {
	var c Config
	s := config.NewSet("relay", "test")
	c.Register(s)
	err := s.Parse(args, func(k string) string { return env[k] })
	return c, err
}

var minimal = []string{"--db", "mysql://relay:pw@tcp(db:3306)/shop", "--kafka-brokers", "k1:9092,k2:9092"}

func TestConfigDefaultsAndEnvironment(t *testing.T) {
	c, err := parse(minimal, map[string]string{"GINTOKI_CDC_TOPIC_PREFIX": "prod", "GINTOKI_SNAPSHOT": "never"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Tables, []string{"stock_items", "warehouses"}) || c.TopicPrefix != "prod" || c.Snapshot != "never" ||
		!slices.Equal(c.Brokers, []string{"k1:9092", "k2:9092"}) || c.Version != "2.8.0" || c.WithSchema ||
		c.CheckpointTopic != "gintoki-relay-offsets" || c.CheckpointEvery != time.Second || c.MetricsAddr != "127.0.0.1:9404" {
		t.Fatalf("parsed %+v", c)
	}
	if db, err := c.Database(); err != nil || db != "shop" {
		t.Fatalf("Database() = %q, %v", db, err)
	}
	c2, err := parse(append(minimal, "--server-id", "7777", "--cdc-with-schema", "--relay-tables", "a,b,c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.EffectiveServerID() != 7777 || !c2.WithSchema || len(c2.Tables) != 3 {
		t.Fatalf("parsed %+v", c2)
	}
}

// Given a schema mapping the relay captures its tables; a --relay-tables
// that leaves one out would starve the read nodes of its changes.
func TestConfigCapturesTheMappedTables(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(file, []byte(shopYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	shop := []string{"inventory_levels", "locations"}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want []string
	}{
		"--schema":                            {args: append(slices.Clip(minimal), "--schema", file), want: shop},
		"GINTOKI_SCHEMA":                      {args: minimal, env: map[string]string{"GINTOKI_SCHEMA": file}, want: shop},
		"more tables than the mapping's":      {args: append(slices.Clip(minimal), "--schema", file, "--relay-tables", "locations,audit,inventory_levels"), want: []string{"locations", "audit", "inventory_levels"}},
		"no mapping: gintoki's own tables":    {args: minimal, want: []string{"stock_items", "warehouses"}},
		"no mapping, an empty --relay-tables": {args: append(slices.Clip(minimal), "--relay-tables", ""), want: []string{"stock_items", "warehouses"}},
		"no mapping: any tables":              {args: append(slices.Clip(minimal), "--relay-tables", "a,b"), want: []string{"a", "b"}},
	} {
		c, err := parse(tc.args, tc.env)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Equal(c.Tables, tc.want) {
			t.Errorf("%s: captures %v, want %v", name, c.Tables, tc.want)
		}
	}
	_, err := parse(append(slices.Clip(minimal), "--schema", file, "--relay-tables", "inventory_levels,stock_items"), nil)
	if err == nil || !strings.Contains(err.Error(), "--relay-tables inventory_levels,stock_items leaves out locations of the --schema mapping "+file) {
		t.Errorf("--relay-tables without a mapped table: %v", err)
	}
}

const shopYAML = `stock: {table: inventory_levels, product: sku_id, warehouse: location_id, salable: on_hand - reserved, version: ""}
warehouses: {table: locations, id: id, code: code, active: enabled, version: ""}
`

func TestDerivedServerIDIsStableAndInRange(t *testing.T) {
	c, err := parse(minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := c.EffectiveServerID()
	if id < 5400 || id >= 6400 || id != c.EffectiveServerID() {
		t.Fatalf("derived server id %d", id)
	}
	other := c
	other.DSN = "mysql://relay:pw@tcp(db:3306)/billing"
	if other.EffectiveServerID() == id {
		t.Logf("two databases share server id %d by chance", id)
	}
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--kafka-brokers", "k:1"}, "--db is required"},
		{[]string{"--db", "sqlite://x.db", "--kafka-brokers", "k:1"}, "MySQL/MariaDB binlog"},
		{[]string{"--db", "mysql://u@tcp(h:1)/"}, "--db"},
		{[]string{"--db", "mysql://u@tcp(h:1)/d"}, "--kafka-brokers is required"},
		{append(minimal, "--kafka-brokers", "nohost"), "--kafka-brokers"},
		{append(minimal, "--snapshot", "sometimes"), "--snapshot"},
		{append(minimal, "--server-id", "-1"), "--server-id"},
		{append(minimal, "--relay-tables", "other.t"), "--relay-tables"},
		{append(minimal, "--cdc-topic-prefix", ""), "--cdc-topic-prefix"},
		{append(minimal, "--relay-max-batch", "0"), "--relay-max-batch"},
		{append(minimal, "--relay-checkpoint-interval", "0s"), "--relay-checkpoint-interval"},
		{append(minimal, "--metrics-addr", "9404"), "--metrics-addr"},
	}
	for _, tc := range cases {
		_, err := parse(tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%v: %v; want one error naming %q (and no password)", tc.args, err, tc.want)
		}
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(t, reg, name, labels...)
	if !ok {
		t.Fatalf("no metric %s %v", name, labels)
	}
	return v
}

// counted is a counter's value, 0 while it has no series yet.
func counted(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _ := metricValue(t, reg, name, labels...)
	return v
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestMetricsReportTheRelay(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := time.Unix(1000, 0)
	m, err := NewMetrics(reg, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Second)
	if got := gauge(t, reg, "gintoki_relay_lag_seconds"); got != 4 {
		t.Errorf("lag before any acknowledgement %v, want 4 (since start)", got)
	}
	m.Published("shop.stock_items", domain.OpUpdate)
	m.Published("shop.stock_items", domain.OpUpdate)
	m.Published("shop.warehouses", domain.OpRead)
	m.Acknowledged(relay.Position{File: "mysql-bin.000012", Pos: 4567}, now.Add(-3*time.Second))
	m.Failed(relay.StageKafka)
	m.StateChanged(relay.StateStreaming)
	now = now.Add(10 * time.Second)

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gintoki_relay_events_total", []string{"table", "shop.stock_items", "op", "u"}, 2},
		{"gintoki_relay_events_total", []string{"table", "shop.warehouses", "op", "r"}, 1},
		{"gintoki_relay_binlog_file_index", nil, 12},
		{"gintoki_relay_binlog_position_bytes", nil, 4567},
		{"gintoki_relay_lag_seconds", nil, 13}, // caught up 3s before the acknowledgement, 10s ago
		{"gintoki_relay_errors_total", []string{"stage", "kafka"}, 1},
		{"gintoki_relay_state", nil, float64(relay.StateStreaming)},
		{"gintoki_relay_checkpoint_age_seconds", nil, 14}, // since start: no checkpoint yet
	}
	for _, c := range checks {
		if got := gauge(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s %v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A heartbeat heard now: caught up. An older time after it (binlog
	// times have whole seconds) does not move it back.
	m.Acknowledged(relay.Position{File: "mysql-bin.000012", Pos: 4567}, now)
	m.Acknowledged(relay.Position{File: "mysql-bin.000012", Pos: 4600}, now.Add(-time.Second))
	if got := gauge(t, reg, "gintoki_relay_lag_seconds"); got != 0 {
		t.Errorf("lag after a heartbeat %v, want 0", got)
	}
	now = now.Add(7 * time.Second)
	if got := gauge(t, reg, "gintoki_relay_lag_seconds"); got != 7 {
		t.Errorf("lag 7s after the last heartbeat %v, want 7: it grows while nothing is heard", got)
	}
	m.Checkpointed(relay.Checkpoint{SavedAt: now.Add(-2 * time.Second)})
	if got := gauge(t, reg, "gintoki_relay_checkpoint_age_seconds"); got != 2 {
		t.Errorf("checkpoint age %v, want 2", got)
	}
	if _, err := NewMetrics(reg, nil); err == nil {
		t.Error("a second relay on one registry was accepted")
	}
}

type readyStub struct{ err error }

func (r readyStub) Ready() error { return r.err }

func TestOpsEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		ready error
		code  int
		body  string
	}{
		{"/healthz", errors.New("relay is snapshotting"), 200, "ok"},
		{"/readyz", errors.New("relay is snapshotting"), 503, "relay is snapshotting"},
		{"/readyz", nil, 200, "ok"},
		{"/metrics", nil, 200, "gintoki_relay_state"},
	} {
		rec := httptest.NewRecorder()
		opsHandler(reg, readyStub{tc.ready}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d %q, want %d containing %q", tc.path, rec.Code, body, tc.code, tc.body)
		}
	}
}
