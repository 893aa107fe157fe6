package middleware

import (
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Tracing starts a server span per request with tp, continuing a trace whose
// context arrives in the headers (global propagator). It returns nil when tp
// is nil or the no-op provider: building span attributes for spans nobody
// records would cost the hot path for nothing.
func Tracing(service string, tp trace.TracerProvider) gin.HandlerFunc {
	if tp == nil {
		return nil
	}
	if _, ok := tp.(tracenoop.TracerProvider); ok {
		return nil
	}
	return otelgin.Middleware(service,
		otelgin.WithTracerProvider(tp),
		// Request metrics come from Prometheus (HTTPMetrics); without this
		// otelgin would record a second set through the global meter.
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}
