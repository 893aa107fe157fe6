package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// metricFamilies gathers reg into a map by family name.
func metricFamilies(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestRequestMetricsByRouteAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(Options{Reader: sampleReader(), Registerer: reg})
	get(t, h, "/cache?product_id=35586")
	get(t, h, "/cache?product_id=35586")
	get(t, h, "/cache?product_id=abc")
	get(t, h, "/v1/products/1/inventory")
	get(t, h, "/v1/products/2/inventory")
	post(t, h, "/v1/product-inventory", `{"product_ids":[1]}`)
	get(t, h, "/no/such/thing")
	get(t, h, "/another/random/path")
	post(t, h, "/cache", "")
	get(t, h, "/healthz")

	want := map[[2]string]float64{
		{"/cache", "200"}:                     2,
		{"/cache", "400"}:                     1,
		{"/v1/products/:id/inventory", "404"}: 2,
		{"/v1/product-inventory", "200"}:      1,
		{"unmatched", "404"}:                  2,
		{"unmatched", "405"}:                  1,
		{"/healthz", "200"}:                   1,
	}
	got := map[[2]string]float64{}
	fams := metricFamilies(t, reg)
	for _, m := range fams["gintoki_http_requests_total"].GetMetric() {
		l := labelsOf(m)
		got[[2]string{l["route"], l["code"]}] = m.GetCounter().GetValue()
	}
	if len(got) != len(want) {
		t.Errorf("series = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests_total%v = %v, want %v", k, got[k], v)
		}
	}

	counts := map[string]uint64{}
	for _, m := range fams["gintoki_http_request_duration_seconds"].GetMetric() {
		counts[labelsOf(m)["route"]] = m.GetHistogram().GetSampleCount()
	}
	wantCounts := map[string]uint64{"/cache": 3, "/v1/products/:id/inventory": 2, "/v1/product-inventory": 1, "unmatched": 3, "/healthz": 1}
	for route, n := range wantCounts {
		if counts[route] != n {
			t.Errorf("duration count for %s = %d, want %d (all: %v)", route, counts[route], n, counts)
		}
	}
	for route := range counts {
		if strings.Contains(route, "random") || strings.Contains(route, "such") {
			t.Errorf("raw path %q used as a route label", route)
		}
	}
}

func TestPanicIsCountedAs500(t *testing.T) {
	reg := prometheus.NewRegistry()
	reader := &fakeReader{getHook: func(context.Context, int64) (domain.ProductInventory, error) { panic("boom") }}
	h := New(Options{Reader: reader, Registerer: reg})
	if rec := get(t, h, "/cache?product_id=1"); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d", rec.Code)
	}
	for _, m := range metricFamilies(t, reg)["gintoki_http_requests_total"].GetMetric() {
		if l := labelsOf(m); l["route"] == "/cache" && l["code"] == "500" && m.GetCounter().GetValue() == 1 {
			return
		}
	}
	t.Fatal("panic not counted as /cache 500")
}

func TestTwoEnginesShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs logtest.Buffer
	a := New(Options{Reader: sampleReader(), Registerer: reg, Logger: newLogger(&logs)})
	b := New(Options{Reader: sampleReader(), Registerer: reg, Logger: newLogger(&logs)})
	get(t, a, "/healthz")
	get(t, b, "/healthz")
	if logs.String() != "" {
		t.Errorf("second engine logged: %s", logs.String())
	}
	for _, m := range metricFamilies(t, reg)["gintoki_http_requests_total"].GetMetric() {
		if labelsOf(m)["route"] == "/healthz" && m.GetCounter().GetValue() == 2 {
			return
		}
	}
	t.Fatal("the engines do not count into the same series")
}

func TestConflictingRegistrationIsLoggedNotFatal(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Same name, different labels: the HTTP metrics cannot be registered.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gintoki_http_requests_total", Help: "other"}, []string{"x"}))
	var logs logtest.Buffer
	h := New(Options{Reader: sampleReader(), Registerer: reg, Logger: newLogger(&logs)})
	assertResponse(t, get(t, h, "/healthz"), http.StatusOK, `{"status":"ok"}`)
	if !strings.Contains(logs.String(), "http metrics are not exported") {
		t.Errorf("registration failure not logged: %s", logs.String())
	}
}
