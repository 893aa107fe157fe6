package httpapi

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestTracingSpansAPIRoutesOnly(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	h := New(Options{Reader: sampleReader(), TracerProvider: tp})
	get(t, h, "/cache?product_id=35586")
	post(t, h, "/v1/product-inventory", `{"product_ids":[1]}`)
	get(t, h, "/healthz")
	get(t, h, "/readyz")

	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	want := []string{"GET /cache", "POST /v1/product-inventory"}
	if len(names) != len(want) || names[0] != want[0] || names[1] != want[1] {
		t.Fatalf("spans = %q, want %q", names, want)
	}
}

func TestTracingSkipsMetricsRoute(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	reg := prometheus.NewRegistry()
	h := New(Options{TracerProvider: tp, Gatherer: reg, Registerer: reg})
	if code := get(t, h, "/metrics").Code; code != http.StatusOK {
		t.Fatalf("status = %d", code)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("/metrics produced %d spans", n)
	}
}

func TestNoopTracerProviderServes(t *testing.T) {
	h := New(Options{Reader: sampleReader(), TracerProvider: noop.NewTracerProvider()})
	assertResponse(t, get(t, h, "/cache?product_id=35586"), http.StatusOK,
		`{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]}`)
}
