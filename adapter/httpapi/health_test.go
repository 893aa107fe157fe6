package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthz(t *testing.T) {
	h := New(Options{Readiness: &fakeReadiness{err: errors.New("db down")}})
	assertResponse(t, get(t, h, "/healthz"), http.StatusOK, `{"status":"ok"}`)
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name    string
		checker ReadinessChecker
		status  int
		body    string
	}{
		{"no checker", nil, http.StatusOK, `{"status":"ready"}`},
		{"ready", &fakeReadiness{}, http.StatusOK, `{"status":"ready"}`},
		{"not ready", &fakeReadiness{err: errors.New(`consumer catching up: "orders" lag 120`)}, http.StatusServiceUnavailable,
			`{"status":"not_ready","reason":"consumer catching up: \"orders\" lag 120"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertResponse(t, get(t, New(Options{Readiness: tt.checker}), "/readyz"), tt.status, tt.body)
		})
	}
}

func TestReadyzGivesCheckerADeadline(t *testing.T) {
	checker := &fakeReadiness{}
	get(t, New(Options{Readiness: checker}), "/readyz")
	if !checker.hadDeadline {
		t.Fatal("readiness check ran without a deadline")
	}
}

func TestMetricsEndpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(Options{Reader: sampleReader(), Registerer: reg, Gatherer: reg})
	get(t, h, "/cache?product_id=35586")
	rec := get(t, h, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`gintoki_http_requests_total{code="200",route="/cache"} 1`,
		`gintoki_http_request_duration_seconds_bucket{route="/cache"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
	}
}

func TestMetricsRouteAbsentWithoutGatherer(t *testing.T) {
	assertErrorCode(t, get(t, New(Options{}), "/metrics"), http.StatusNotFound, codeNotFound)
}
