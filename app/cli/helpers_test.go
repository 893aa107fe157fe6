package cli

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// process is a gintoki command running in this test process.
type process struct {
	stop   chan os.Signal
	done   chan int
	stderr *logtest.Buffer
	stdout *logtest.Buffer
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startWithEnv(t, nil, args...)
}

// startWithEnv runs a command that sees env as its environment.
func startWithEnv(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	p := &process{stop: make(chan os.Signal, 1), done: make(chan int, 1), stderr: &logtest.Buffer{}, stdout: &logtest.Buffer{}}
	go func() {
		p.done <- Main(args, Env{Getenv: func(k string) string { return env[k] }, Stdout: p.stdout, Stderr: p.stderr, Signals: p.stop})
	}()
	t.Cleanup(func() { p.shutdown(t) })
	return p
}

func (p *process) shutdown(t *testing.T) {
	select {
	case p.stop <- os.Interrupt:
	default:
	}
	select {
	case code := <-p.done:
		if code != 0 {
			t.Errorf("process exited %d; stderr:\n%s", code, p.stderr.String())
		}
		p.done <- code // later calls see it too
	case <-time.After(30 * time.Second):
		t.Errorf("process did not stop; stderr:\n%s", p.stderr.String())
	}
}

func freeAddr(t *testing.T) string { return apptest.FreeAddr(t) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, _ := getWithHeaders(t, url)
	return code, body
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	code, answer, _ := postWithHeaders(t, url, body)
	return code, answer
}

func getWithHeaders(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return readResponse(resp)
}

func postWithHeaders(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return readResponse(resp)
}

func readResponse(resp *http.Response) (int, string, http.Header) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

func ready(base string) bool {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	_, body := get(t, base+"/metrics")
	v, _ := apptest.Metric(body, name)
	return v
}
