package telemetry

import (
	"context"
	"fmt"
	"io"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracingConfig picks the exporter.
type TracingConfig struct {
	Exporter    string // none, stdout, otlp
	Endpoint    string // OTLP gRPC host:port
	SampleRatio float64
	ServiceName string
	Stdout      io.Writer
	// Background traces probes and background loops too (see Untraced).
	Background bool
}

// Tracing is the provider and how to flush it.
type Tracing struct {
	Provider trace.TracerProvider
	Shutdown func(context.Context) error
}

// NewTracing builds a tracer provider and installs the W3C propagators, so
// trace context crosses HTTP, gRPC and Kafka headers. With exporter "none"
// the provider is a no-op and costs nothing on the hot path.
func NewTracing(cfg TracingConfig) (Tracing, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	SetTraceBackground(cfg.Background)
	if cfg.Exporter == "" || cfg.Exporter == "none" {
		return Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Exporter {
	case "stdout":
		w := cfg.Stdout
		if w == nil {
			w = io.Discard
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case "otlp":
		// New does not dial: an absent collector costs dropped spans, not a failed start.
		exp, err = otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithInsecure())
	default:
		return Tracing{}, fmt.Errorf("unknown trace exporter %q (none, stdout, otlp)", cfg.Exporter)
	}
	if err != nil {
		return Tracing{}, fmt.Errorf("create %s trace exporter: %w", cfg.Exporter, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	return Tracing{Provider: tp, Shutdown: tp.Shutdown}, nil
}
