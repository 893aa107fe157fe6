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
)

// relayApp is the fx application `gintoki relay` runs.
func relayApp(cfg Config) *fx.App {
	tel := config.Telemetry{LogLevel: "error", LogFormat: "text", OtelExporter: "none", ServiceName: "gintoki-relay"}
	return fx.New(
		fx.Supply(tel, cfg, telemetrymod.Output{W: io.Discard}),
		telemetrymod.Module,
		Module,
		fx.NopLogger,
	)
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
	cfg := h.cfg
	cfg.MetricsAddr = freeAddr(t)
	app := relayApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + cfg.MetricsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "/readyz 200", func() bool { code, _ := get("/readyz"); return code == http.StatusOK }, nil)
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "gintoki_relay_state 2") {
		t.Errorf("/metrics: %d, streaming state missing", code)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestModuleFailsStartWithTheReason: what reconnecting cannot fix fails
// the start at once, with the reason.
func TestModuleFailsStartWithTheReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	cfg := h.cfg
	cfg.Tables = []string{"stock_items", "no_such_table"}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	app := relayApp(cfg)
	err := app.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "no_such_table does not exist") {
		t.Fatalf("start: %v", err)
	}
	stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = app.Stop(stopCtx)
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
