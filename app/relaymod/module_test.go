package relaymod

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/gintoki/gintoki/app/telemetrymod"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// relayApp is the fx application `gintoki relay` runs.
func relayApp(cfg Config) *fx.App { return relayAppLogging(cfg, io.Discard) }

// relayAppLogging is relayApp logging warnings and errors to w.
func relayAppLogging(cfg Config, w io.Writer) *fx.App {
	tel := config.Telemetry{LogLevel: "warn", LogFormat: "text", OtelExporter: "none", ServiceName: "gintoki-relay"}
	return fx.New(
		fx.Supply(tel, cfg, telemetrymod.Output{W: w}),
		telemetrymod.Module,
		Module,
		fx.NopLogger,
	)
}

// opsGet fetches path from the relay's metrics listener.
func opsGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestModuleServesAndStops: the module starts under fx, reports ready on
// /readyz once streaming, serves /metrics, and stops cleanly.
func TestModuleServesAndStops(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	dbtest.RowMetadataFull(t, h.db)
	cfg := h.cfg
	cfg.MetricsAddr = freeAddr(t)
	app := relayApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) { return opsGet(cfg.MetricsAddr, path) }
	waitFor(t, "/readyz 200", func() bool { code, _ := get("/readyz"); return code == http.StatusOK }, nil)
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, "gintoki_relay_state 2") {
		t.Errorf("/metrics: %d, streaming state missing", code)
	}
	if !strings.Contains(body, "gintoki_relay_binlog_row_metadata_full 1") || !strings.Contains(body, `gintoki_relay_stopped{reason="other"} 0`) {
		t.Errorf("/metrics lacks full row metadata or the stop reasons at 0:\n%s", body)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestModuleStopsForGoodAndStaysUp: what reconnecting cannot fix (here a
// captured table that does not exist, found at start) stops the relay for
// good: one ERROR with the reason and the fix, and the process stays up
// saying so on /readyz and /metrics, alive on /healthz, until it is told to
// stop; the stop then fails, so the process exits with a failure status.
func TestModuleStopsForGoodAndStaysUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	cfg := h.cfg
	cfg.Tables = []string{"stock_items", "no_such_table"}
	cfg.MetricsAddr = freeAddr(t)
	var logs logtest.Buffer
	app := relayAppLogging(cfg, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v; a relay that stops for good still starts, to say so", err)
	}
	get := func(path string) (int, string) { return opsGet(cfg.MetricsAddr, path) }
	var metrics string
	waitFor(t, "the stop on /metrics", func() bool {
		_, metrics = get("/metrics")
		return strings.Contains(metrics, `gintoki_relay_stopped{reason="missing_table"} 1`)
	}, nil)
	for _, want := range []string{"gintoki_relay_state 4", `gintoki_relay_stopped{reason="privileges"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopped for good (missing_table)") || !strings.Contains(body, "no_such_table does not exist") {
		t.Errorf("/readyz: %d %q; want 503 with the reason and the error", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d; the process is alive", code)
	}
	var errorLines []string
	for _, l := range logs.Lines() {
		if strings.Contains(l, "level=ERROR") {
			errorLines = append(errorLines, l)
		}
	}
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "reason=missing_table") || !strings.Contains(errorLines[0], "fix=") ||
		!strings.Contains(errorLines[0], "no_such_table does not exist") {
		t.Errorf("ERROR lines %q; want one with the reason, the error and the fix", errorLines)
	}
	select {
	case sig := <-app.Wait():
		t.Fatalf("the application shut itself down (%v); it must wait to be stopped", sig)
	case <-time.After(500 * time.Millisecond):
	}
	err := app.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "stopped for good (missing_table)") {
		t.Fatalf("stop: %v; want the failure, for the exit status", err)
	}
}

// TestModuleStartsWhileKafkaIsDown: an unreachable broker is retried in
// the background, not a failed start; the relay is not ready meanwhile.
func TestModuleStartsWhileKafkaIsDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	cfg := h.cfg
	cfg.Brokers = []string{freeAddr(t)} // nothing listens there
	cfg.MetricsAddr = freeAddr(t)
	app := relayApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start with Kafka down: %v", err)
	}
	resp, err := http.Get("http://" + cfg.MetricsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Kafka down: %d, want 503", resp.StatusCode)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
