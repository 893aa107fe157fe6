package adminmod

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPprofNeverServesTheCommandLine(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "admin_test_total", Help: "x"}))
	for _, g := range []prometheus.Gatherer{reg, nil} {
		srv := httptest.NewServer(NewServer(Handler(g)).Handler)
		for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/cmdline?x=1", "/debug/pprof/cmdline/"} {
			code, body := get(t, srv.URL+path)
			if code != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", path, code)
			}
			if strings.Contains(body, os.Args[0]) {
				t.Errorf("%s: the command line is in the answer", path)
			}
		}
		if code, body := get(t, srv.URL+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
			t.Errorf("pprof index: %d", code)
		}
		if code, _ := get(t, srv.URL+"/debug/pprof/goroutine?debug=1"); code != 200 {
			t.Errorf("goroutine profile: %d", code)
		}
		code, body := get(t, srv.URL+"/metrics")
		if g != nil && (code != 200 || !strings.Contains(body, "admin_test_total")) {
			t.Errorf("admin /metrics: %d", code)
		}
		if g == nil && code != 404 {
			t.Errorf("pprof-only listener served /metrics: %d", code)
		}
		srv.Close()
	}
}
