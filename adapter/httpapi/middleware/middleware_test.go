package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace/noop"
)

func init() { gin.SetMode(gin.TestMode) }

func serve(t *testing.T, handlers ...gin.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	engine := gin.New()
	engine.GET("/x", handlers...)
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	return rec
}

func TestValidRequestID(t *testing.T) {
	tests := map[string]bool{
		"a": true, "0f-Az_.:/+=@!~": true, strings.Repeat("z", 128): true,
		"": false, strings.Repeat("z", 129): false, "a b": false, "a\tb": false, "\x7f": false, "ü": false,
	}
	for id, want := range tests {
		if got := validRequestID(id); got != want {
			t.Errorf("validRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestRequestIDContext(t *testing.T) {
	if got := RequestIDFrom(context.Background()); got != "" {
		t.Fatalf("empty context gave %q", got)
	}
	type otherKey struct{}
	ctx := context.WithValue(context.Background(), otherKey{}, "v")
	ctx = withRequestID(ctx, "r1")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if got := RequestIDFrom(ctx); got != "r1" {
		t.Errorf("RequestIDFrom = %q, want r1", got)
	}
	if got := ctx.Value(otherKey{}); got != "v" {
		t.Errorf("outer value lost: %v", got)
	}
}

func TestRequestIDFromNeverAllocates(t *testing.T) {
	ctx := withRequestID(context.Background(), "r1")
	if n := testing.AllocsPerRun(100, func() { _ = RequestIDFrom(ctx) }); n != 0 {
		t.Fatalf("RequestIDFrom allocated %.0f times", n)
	}
}

func TestRecoveryAfterPartialWriteKeepsResponse(t *testing.T) {
	var logs bytes.Buffer
	responded := false
	rec := serve(t,
		Recovery(slog.New(slog.NewTextHandler(&logs, nil)), func(*gin.Context) { responded = true }),
		func(c *gin.Context) {
			c.String(http.StatusOK, "partial")
			panic(errors.New("late failure"))
		})
	if responded {
		t.Error("respond called although the response had started")
	}
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("response changed: %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "late failure") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestRecoveryPassesAbortHandlerOn(t *testing.T) {
	defer func() {
		if rec := recover(); rec != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", rec)
		}
	}()
	serve(t,
		Recovery(slog.New(slog.DiscardHandler), func(*gin.Context) { t.Error("respond called for ErrAbortHandler") }),
		func(*gin.Context) { panic(http.ErrAbortHandler) })
	t.Fatal("panic swallowed")
}

func TestRequestScopeSetsDeadlineAndRequestID(t *testing.T) {
	var remaining time.Duration
	var id string
	serve(t, RequestScope(time.Hour), func(c *gin.Context) {
		deadline, ok := c.Request.Context().Deadline()
		if !ok {
			t.Fatal("no deadline")
		}
		remaining = time.Until(deadline)
		id = RequestIDFrom(c.Request.Context())
		if c.Writer.Header().Get(HeaderRequestID) != id {
			t.Error("the response does not echo the request id")
		}
	})
	if id == "" {
		t.Fatal("no request id in the scope context")
	}
	if remaining <= 59*time.Minute || remaining > time.Hour {
		t.Fatalf("deadline %v away, want about an hour", remaining)
	}
}

func TestMetricsUnusualStatusCodes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewHTTPMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	engine := gin.New()
	route := m.Route("/x")
	engine.GET("/x", route, func(c *gin.Context) { c.Status(299) })
	for range 3 {
		engine.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	}
	if got := counterValue(t, m.requests.WithLabelValues("/x", "299")); got != 3 {
		t.Fatalf("299 counted %v times, want 3", got)
	}
	// Codes outside the resolved range still count.
	r := &routeMetrics{route: "/y", requests: m.requests}
	r.counter(1234).Inc()
	if got := counterValue(t, m.requests.WithLabelValues("/y", "1234")); got != 1 {
		t.Fatalf("1234 counted %v times, want 1", got)
	}
}

func TestNewHTTPMetricsWithoutRegisterer(t *testing.T) {
	m, err := NewHTTPMetrics(nil)
	if err != nil || m == nil {
		t.Fatalf("NewHTTPMetrics(nil) = %v, %v", m, err)
	}
	serve(t, m.Route("/x"), func(c *gin.Context) { c.Status(http.StatusOK) })
}

func TestTracingDisabledForNilAndNoop(t *testing.T) {
	if Tracing("svc", nil) != nil {
		t.Error("nil provider gave a middleware")
	}
	if Tracing("svc", noop.NewTracerProvider()) != nil {
		t.Error("no-op provider gave a middleware")
	}
}

func TestNewAccessLogClampsEvery(t *testing.T) {
	var logs bytes.Buffer
	a := NewAccessLog(slog.New(slog.NewTextHandler(&logs, nil)), 0)
	for range 3 {
		serve(t, a.Route("/x"), func(c *gin.Context) { c.Status(http.StatusOK) })
	}
	if n := strings.Count(logs.String(), "http request"); n != 3 {
		t.Fatalf("logged %d of 3 requests with every=0, want all", n)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// withRequestID returns a context carrying id, as the request scope does.
func withRequestID(ctx context.Context, id string) context.Context {
	return &requestIDContext{Context: ctx, id: id}
}
