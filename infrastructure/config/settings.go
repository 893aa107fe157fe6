package config

import (
	"fmt"
	"github.com/gintoki/gintoki/infrastructure/database"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Telemetry is logging and tracing.
type Telemetry struct {
	LogLevel        string
	LogFormat       string
	OtelExporter    string
	OtelEndpoint    string
	OtelSampleRatio float64
	OtelBackground  bool
	ServiceName     string
}

// Register adds the telemetry flags.
func (t *Telemetry) Register(s *Set) {
	s.String(&t.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	s.String(&t.LogFormat, "log-format", "json", "log format: json or text")
	s.String(&t.OtelExporter, "otel-exporter", "none", "trace exporter: none, stdout or otlp")
	s.String(&t.OtelEndpoint, "otel-endpoint", "localhost:4317", "OTLP gRPC endpoint (host:port) when --otel-exporter=otlp")
	s.Float(&t.OtelSampleRatio, "otel-sample-ratio", 1, "fraction of traces sampled (0..1)")
	s.Bool(&t.OtelBackground, "otel-trace-background", false, "also trace probes and background work: /healthz, /readyz, /metrics, gRPC health checks and reflection, readiness pings, source heartbeats, the inspector, prewarm (off: only requests, change events and the relay make spans)")
	s.String(&t.ServiceName, "service-name", "gintoki", "service.name reported in traces")
	s.Check(func() error {
		if _, err := ParseLogLevel(t.LogLevel); err != nil {
			return err
		}
		if t.LogFormat != "json" && t.LogFormat != "text" {
			return fmt.Errorf("--log-format must be json or text, got %q", t.LogFormat)
		}
		switch t.OtelExporter {
		case "none", "stdout", "otlp":
		default:
			return fmt.Errorf("--otel-exporter must be none, stdout or otlp, got %q", t.OtelExporter)
		}
		if t.OtelSampleRatio < 0 || t.OtelSampleRatio > 1 {
			return fmt.Errorf("--otel-sample-ratio must be within 0..1, got %v", t.OtelSampleRatio)
		}
		return nil
	})
}

// ParseLogLevel reads a slog level name.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// HTTP is the HTTP listener and its middleware.
type HTTP struct {
	Addr            string
	RequestTimeout  time.Duration
	AccessLog       bool
	AccessLogSample int
	PprofAddr       string
	// AdminAddr, when set, serves /metrics and pprof instead of the API's
	// port and --pprof-addr.
	AdminAddr       string
	ShutdownTimeout time.Duration
}

// Register adds the HTTP flags.
func (h *HTTP) Register(s *Set, defAddr string) {
	s.String(&h.Addr, "http-addr", defAddr, "HTTP listen address")
	s.Duration(&h.RequestTimeout, "request-timeout", 5*time.Second, "deadline of one HTTP request (gRPC callers set their own deadline)")
	s.Bool(&h.AccessLog, "access-log", false, "log HTTP requests (sampled)")
	s.Int(&h.AccessLogSample, "access-log-sample", 100, "log one request in N when --access-log is on")
	s.String(&h.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this separate address (off when empty; never /debug/pprof/cmdline)")
	s.String(&h.AdminAddr, "admin-addr", "", "serve /metrics and pprof on this address instead (the API's port then answers 404 on /metrics); bind it to a private interface")
	s.Duration(&h.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish at shutdown")
	s.Check(func() error {
		if err := checkAddr("--http-addr", h.Addr); err != nil {
			return err
		}
		if h.PprofAddr != "" {
			if err := checkAddr("--pprof-addr", h.PprofAddr); err != nil {
				return err
			}
		}
		if h.AdminAddr != "" {
			if err := checkAddr("--admin-addr", h.AdminAddr); err != nil {
				return err
			}
			if h.PprofAddr != "" {
				return fmt.Errorf("--admin-addr serves pprof already: drop --pprof-addr")
			}
		}
		if h.RequestTimeout <= 0 {
			return fmt.Errorf("--request-timeout must be positive, got %s", h.RequestTimeout)
		}
		if h.AccessLogSample < 1 {
			return fmt.Errorf("--access-log-sample must be at least 1, got %d", h.AccessLogSample)
		}
		return nil
	})
}

// GRPC is the gRPC listener.
type GRPC struct {
	Addr        string
	DrainPeriod time.Duration
	Reflection  bool
}

// Register adds the gRPC flags.
func (g *GRPC) Register(s *Set, defAddr string) {
	s.String(&g.Addr, "grpc-addr", defAddr, "gRPC listen address")
	s.Duration(&g.DrainPeriod, "grpc-drain-period", 2*time.Second, "at shutdown, how long the gRPC server keeps answering after its health turns NOT_SERVING, so clients watching it (the gateway) move away before it stops accepting calls; part of --shutdown-timeout")
	s.Bool(&g.Reflection, "grpc-reflection", true, "serve gRPC server reflection (grpcurl list/describe); it tells anyone who can connect every service and message")
	s.Check(func() error {
		if g.DrainPeriod < 0 {
			return fmt.Errorf("--grpc-drain-period must not be negative, got %s", g.DrainPeriod)
		}
		return checkAddr("--grpc-addr", g.Addr)
	})
}

// DB is the database connection and the guard in front of it.
type DB struct {
	DSN          string
	MaxOpen      int
	MaxInFlight  int
	Timeout      time.Duration
	QueueTimeout time.Duration
}

// Register adds the database flags; def is the default DSN.
func (d *DB) Register(s *Set, def string) {
	s.Secret(&d.DSN, "db", def, "database: mysql://<go-sql-driver DSN> or sqlite://<path>; a password here is visible in ps: use --db-password-file")
	d.RegisterTuning(s)
	s.Check(func() error {
		if strings.TrimSpace(d.DSN) == "" {
			return fmt.Errorf("--db is required (mysql://user:pass@tcp(host:3306)/db or sqlite://path)")
		}
		if _, err := database.ParseDSN(d.DSN); err != nil {
			return fmt.Errorf("--db: %v", err)
		}
		return nil
	})
	RegisterDBPasswordFile(s, &d.DSN)
}

// RegisterTuning adds the pool and guard flags without --db (for processes
// that choose their own database, like demo).
func (d *DB) RegisterTuning(s *Set) {
	s.Int(&d.MaxOpen, "db-max-open", 32, "maximum open database connections")
	s.Int(&d.MaxInFlight, "db-max-inflight", 0, "maximum concurrent read-path queries (0: same as --db-max-open)")
	s.Duration(&d.Timeout, "db-timeout", time.Second, "deadline of one database query")
	s.Duration(&d.QueueTimeout, "db-queue-timeout", 250*time.Millisecond, "how long a read waits for a free query slot before failing with 503/UNAVAILABLE")
	s.Check(func() error {
		if d.MaxOpen < 1 {
			return fmt.Errorf("--db-max-open must be at least 1, got %d", d.MaxOpen)
		}
		if d.MaxInFlight < 0 {
			return fmt.Errorf("--db-max-inflight must not be negative, got %d", d.MaxInFlight)
		}
		if d.MaxInFlight == 0 {
			d.MaxInFlight = d.MaxOpen
		}
		if d.Timeout <= 0 || d.QueueTimeout < 0 {
			return fmt.Errorf("--db-timeout must be positive and --db-queue-timeout not negative")
		}
		return nil
	})
}

// The values of --cache-bootstrap.
const (
	BootstrapDatabase = "database"
	BootstrapTopic    = "topic"
	BootstrapNone     = "none"
)

// FromTopics reports whether the cache is bootstrapped from the change
// topics.
func (c Cache) FromTopics() bool { return c.Enabled && c.Bootstrap == BootstrapTopic }

// Cache is the in-process cache.
type Cache struct {
	Enabled   bool
	SizeMB    int
	TTL       time.Duration
	TTLJitter float64
	MarkerTTL time.Duration
	// StaleIfError: how long held entries may answer, marked stale, when
	// the database cannot (see inventory.Config).
	StaleIfError time.Duration
	// ReadAfterWait: how long a read with a read-after token waits for the
	// change feed before going to the database.
	ReadAfterWait time.Duration
	// Inspector: every InspectInterval (0: off), compare InspectSample
	// recently read products and InspectScan more from a walk over the
	// whole cache with the database, twice, InspectLagWindow apart.
	InspectInterval  time.Duration
	InspectSample    int
	InspectScan      int
	InspectLagWindow time.Duration
	// Bootstrap is where a starting node gets its cache from: the database
	// (the directory, then products as Prewarm says), the change topics, or
	// the database without any prewarm.
	Bootstrap string
	// Prewarm is how many products to load at start: 0 none, -1 all.
	Prewarm     int
	PrewarmPage int
	prewarmRaw  string
}

// Register adds the cache flags.
func (c *Cache) Register(s *Set) {
	s.Bool(&c.Enabled, "cache", true, "serve from the in-process cache (false: every read queries the database)")
	s.Int(&c.SizeMB, "cache-size-mb", 512, "memory cap of the cache entries in MiB")
	s.Duration(&c.TTL, "cache-ttl", 10*time.Minute, "last-resort lifetime of a cache entry")
	s.Float(&c.TTLJitter, "cache-ttl-jitter", 0.2, "entries expire up to this fraction earlier than --cache-ttl, at random, so entries filled together expire apart")
	s.Duration(&c.StaleIfError, "stale-if-error", 10*time.Minute, "when the database cannot answer and the change feed is lost (or an entry is past --cache-ttl), answer from the cache for this long after the feed's last sign of life (or the entry's expiry), marked possibly stale (X-Gintoki-Stale, Age); 0: never, and a lost feed flushes the cache")
	s.Duration(&c.ReadAfterWait, "read-after-wait", 250*time.Millisecond, "a read with X-Read-After-GTID (gRPC read_after_gtid) waits this long for the change feed to apply that GTID before reading the database instead (0: go to the database at once)")
	s.String(&c.Bootstrap, "cache-bootstrap", BootstrapDatabase, "where a starting node gets its cache: database (the warehouse directory from the database, products as --cache-prewarm says), topic (directory and products from the change topics read from their start: no database query to start, even with the database down; the topics must be compacted and hold a snapshot), none (as database, never prewarming)")
	s.String(&c.prewarmRaw, "cache-prewarm", "none", "load products into the cache at start, once the change feed is live: none, all, or a number N (the first N products)")
	s.Int(&c.PrewarmPage, "cache-prewarm-page", 1000, "products per prewarm query")
	s.Duration(&c.InspectInterval, "inspect-interval", 30*time.Second, "consistency inspector: how often to compare a sample of cached products with the database (0: off)")
	s.Int(&c.InspectSample, "inspect-sample", 100, "consistency inspector: products per round taken from a sample of recent reads (the most read are the likeliest)")
	s.Int(&c.InspectScan, "inspect-scan", 1000, "consistency inspector: products per round taken from a walk over the whole cache, continued each round (0: only the sample of reads)")
	s.Duration(&c.InspectLagWindow, "inspect-lag-window", 5*time.Second, "consistency inspector: a product that differs from the database (behind or ahead) the same way twice this far apart is evicted")
	s.Duration(&c.MarkerTTL, "cdc-marker-ttl", time.Minute, "how long the newest change of each row is remembered to correct fills that read older data (e.g. from a lagging replica)")
	s.Check(func() error {
		if c.SizeMB < 1 {
			return fmt.Errorf("--cache-size-mb must be at least 1, got %d", c.SizeMB)
		}
		if c.TTL <= 0 {
			return fmt.Errorf("--cache-ttl must be positive, got %s", c.TTL)
		}
		if c.TTLJitter < 0 || c.TTLJitter >= 1 {
			return fmt.Errorf("--cache-ttl-jitter must be within [0, 1), got %v", c.TTLJitter)
		}
		switch c.prewarmRaw {
		case "", "none":
			c.Prewarm = 0
		case "all":
			c.Prewarm = -1
		default:
			n, err := strconv.Atoi(c.prewarmRaw)
			if err != nil || n < 0 {
				return fmt.Errorf("--cache-prewarm must be none, all or a positive number, got %q", c.prewarmRaw)
			}
			c.Prewarm = n
		}
		if c.InspectInterval < 0 || c.InspectSample < 0 || c.InspectScan < 0 || c.InspectLagWindow < 0 {
			return fmt.Errorf("--inspect-interval, --inspect-sample, --inspect-scan and --inspect-lag-window must not be negative")
		}
		if c.PrewarmPage < 1 || c.PrewarmPage > 10000 {
			return fmt.Errorf("--cache-prewarm-page must be within 1..10000, got %d", c.PrewarmPage)
		}
		switch c.Bootstrap {
		case BootstrapDatabase, BootstrapTopic:
		case BootstrapNone:
			c.Prewarm = 0
		default:
			return fmt.Errorf("--cache-bootstrap must be database, topic or none, got %q", c.Bootstrap)
		}
		if c.ReadAfterWait < 0 {
			return fmt.Errorf("--read-after-wait must not be negative, got %s", c.ReadAfterWait)
		}
		if c.StaleIfError < 0 {
			return fmt.Errorf("--stale-if-error must not be negative, got %s", c.StaleIfError)
		}
		if c.MarkerTTL < 0 {
			return fmt.Errorf("--cdc-marker-ttl must not be negative")
		}
		return nil
	})
}

func checkAddr(flag, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q is not host:port: %v", flag, addr, err)
	}
	return nil
}

// Runtime tunes the Go garbage collector for a cache: a large, mostly
// pointer-free live heap (bigcache's shards) and little garbage per request.
type Runtime struct {
	GCPercent     int
	MemoryLimitMB int
}

// Register adds the runtime flags.
func (r *Runtime) Register(s *Set) {
	s.Int(&r.GCPercent, "gc-percent", 400, "Go GC target percentage (GOGC); the environment variable GOGC, when set, wins")
	s.Int(&r.MemoryLimitMB, "memory-limit-mb", 0, "soft memory limit of the process in MiB (GOMEMLIMIT; 0: none); set it to ~90% of the container's memory")
	s.Check(func() error {
		if r.GCPercent < -1 || r.GCPercent == 0 {
			return fmt.Errorf("--gc-percent must be positive (or -1 to rely on --memory-limit-mb alone), got %d", r.GCPercent)
		}
		if r.MemoryLimitMB < 0 {
			return fmt.Errorf("--memory-limit-mb must not be negative, got %d", r.MemoryLimitMB)
		}
		if r.GCPercent == -1 && r.MemoryLimitMB == 0 {
			return fmt.Errorf("--gc-percent=-1 turns the GC off; it needs --memory-limit-mb")
		}
		return nil
	})
}
