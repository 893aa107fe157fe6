package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func newServeLike() (*Set, *HTTP, *DB, *Cache, *Telemetry) {
	s := NewSet("serve", "test")
	var h HTTP
	var d DB
	var c Cache
	var t Telemetry
	h.Register(s, ":8080")
	d.Register(s, "")
	c.Register(s)
	t.Register(s)
	return s, &h, &d, &c, &t
}

func TestDefaultsEnvAndFlagsInThatOrder(t *testing.T) {
	s, h, d, c, _ := newServeLike()
	err := s.Parse([]string{"--db", "sqlite://x.db", "--cache-ttl", "2m"}, env(map[string]string{
		"GINTOKI_HTTP_ADDR": "127.0.0.1:9999",
		"GINTOKI_CACHE_TTL": "1m", // the flag wins
		"GINTOKI_CACHE":     "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if h.Addr != "127.0.0.1:9999" || c.TTL != 2*time.Minute || c.Enabled || d.DSN != "sqlite://x.db" {
		t.Fatalf("http %q ttl %s cache %v db %q", h.Addr, c.TTL, c.Enabled, d.DSN)
	}
	if d.MaxOpen != 32 || d.MaxInFlight != 32 || d.Timeout != time.Second || h.RequestTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v %+v", d, h)
	}
}

func TestBadConfigurationIsOneClearLine(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--db is required"},
		{[]string{"--db", "sqlite://x.db", "--db-max-open", "0"}, nil, "--db-max-open must be at least 1"},
		{[]string{"--db", "sqlite://x.db", "--cache-ttl", "soon"}, nil, "invalid value \"soon\" for flag -cache-ttl"},
		{[]string{"--db", "sqlite://x.db"}, map[string]string{"GINTOKI_CACHE_SIZE_MB": "lots"}, "GINTOKI_CACHE_SIZE_MB=\"lots\""},
		{[]string{"--db", "sqlite://x.db", "--http-addr", "8080"}, nil, "--http-addr \"8080\" is not host:port"},
		{[]string{"--db", "sqlite://x.db", "--log-level", "loud"}, nil, "--log-level must be"},
		{[]string{"--db", "sqlite://x.db", "--otel-exporter", "zipkin"}, nil, "--otel-exporter must be"},
		{[]string{"--db", "postgres://x"}, nil, "--db: "},
		{[]string{"--db", "sqlite://x.db", "--no-such-flag"}, nil, "flag provided but not defined"},
		{[]string{"--db", "sqlite://x.db", "extra"}, nil, "unexpected argument"},
		{[]string{"--db", "sqlite://x.db", "--cache-ttl-jitter", "1.5"}, nil, "--cache-ttl-jitter"},
	}
	for _, tc := range cases {
		s, _, _, _, _ := newServeLike()
		err := s.Parse(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: err %v, want one line containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestUsageListsEveryFlagWithEnvAndDefault(t *testing.T) {
	s, _, _, _, _ := newServeLike()
	var b bytes.Buffer
	s.Usage(&b)
	for _, want := range []string{"--http-addr  (GINTOKI_HTTP_ADDR, default :8080)", "--cache  (GINTOKI_CACHE, default true)", "--db-timeout  (GINTOKI_DB_TIMEOUT, default 1s)", "--otel-exporter  (GINTOKI_OTEL_EXPORTER, default none)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if err := s.Parse([]string{"--help"}, env(nil)); err != ErrHelp {
		t.Fatalf("--help: %v", err)
	}
}

func TestListFlag(t *testing.T) {
	s := NewSet("x", "")
	var l []string
	s.List(&l, "brokers", "a:1", "brokers")
	if err := s.Parse(nil, env(map[string]string{"GINTOKI_BROKERS": "b:1, c:2,"})); err != nil {
		t.Fatal(err)
	}
	if strings.Join(l, "|") != "b:1|c:2" {
		t.Fatalf("%q", l)
	}
}

func TestSourceHeartbeats(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string // "" for no error
	}{
		{nil, nil, ""},
		{nil, map[string]string{"GINTOKI_SOURCE_HEARTBEATS": "required"}, ""},
		{[]string{"--source-heartbeats", "off", "--cdc-heartbeat-topic", "off"}, nil, ""},
		{[]string{"--source-heartbeats", "on"}, nil, "--source-heartbeats must be auto, required or off"},
		{[]string{"--source-heartbeats", "required", "--cdc-heartbeat-topic", "off"}, nil, "needs a heartbeat topic"},
	} {
		s := NewSet("serve", "test")
		var k Kafka
		k.Register(s)
		err := s.Parse(c.args, env(c.env))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v %v: %v", c.args, c.env, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %v: err %v, want %q", c.args, c.env, err, c.want)
		}
	}
	s := NewSet("serve", "test")
	var k Kafka
	k.Register(s)
	if err := s.Parse(nil, env(map[string]string{"GINTOKI_SOURCE_HEARTBEATS": "required"})); err != nil || k.SourceHeartbeats != "required" {
		t.Errorf("GINTOKI_SOURCE_HEARTBEATS=required: %q %v", k.SourceHeartbeats, err)
	}
}
