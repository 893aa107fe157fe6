// Package telemetrymod provides the logger, metrics registry and tracer
// provider every process reports through.
package telemetrymod

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
)

// Output is where logs (and stdout traces) go.
type Output struct{ W io.Writer }

// Module provides *slog.Logger, *prometheus.Registry (also as Registerer and
// Gatherer) and trace.TracerProvider.
var Module = fx.Module("telemetry",
	fx.Provide(
		newLogger,
		telemetry.NewRegistry,
		func(r *prometheus.Registry) prometheus.Registerer { return r },
		func(r *prometheus.Registry) prometheus.Gatherer { return r },
		newTracerProvider,
	),
	fx.Invoke(useAsDefault),
)

func newLogger(cfg config.Telemetry, out Output) (*slog.Logger, error) {
	level, err := config.ParseLogLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	return telemetry.NewLogger(out.W, cfg.LogFormat, level), nil
}

// useAsDefault makes the process's logger slog's default, in the open where
// the process is composed rather than inside a constructor: code that logs
// through slog.Default, and the standard log package behind it (vitess
// writes there), then writes the same structured lines.
func useAsDefault(l *slog.Logger) { slog.SetDefault(l) }

func newTracerProvider(lc fx.Lifecycle, cfg config.Telemetry, out Output) (trace.TracerProvider, error) {
	t, err := telemetry.NewTracing(telemetry.TracingConfig{
		Exporter: cfg.OtelExporter, Endpoint: cfg.OtelEndpoint, SampleRatio: cfg.OtelSampleRatio,
		ServiceName: cfg.ServiceName, Stdout: out.W, Background: cfg.OtelBackground,
	})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(func(ctx context.Context) error { return t.Shutdown(ctx) }))
	return t.Provider, nil
}
