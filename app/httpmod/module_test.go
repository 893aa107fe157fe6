package httpmod

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/config"
)

type fakeReader struct{}

func (fakeReader) GetProductInventory(_ context.Context, id int64) (domain.ProductInventory, error) {
	return domain.ProductInventory{ProductID: id}, nil
}

func (fakeReader) BatchGetProductInventory(_ context.Context, ids []int64) (domain.BatchResult, error) {
	return domain.BatchResult{NotFound: ids}, nil
}

func (r fakeReader) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := r.GetProductInventory(ctx, id)
	return inv, domain.FromCache, err
}

func (r fakeReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := r.BatchGetProductInventory(ctx, ids)
	return res, domain.FromCache, err
}

const requestTimeout = time.Second

// serve runs the module's server on a loopback port and returns its
// address and the server.
func serve(t *testing.T, cfg config.HTTP) (string, *http.Server) {
	t.Helper()
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = requestTimeout
	}
	reg := prometheus.NewRegistry()
	srv := newServer(Params{
		Config: cfg, Reader: fakeReader{}, Registerer: reg, Gatherer: reg,
		Tracer: tracenoop.NewTracerProvider(), Log: slog.New(slog.DiscardHandler),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), srv
}

// stall sends the start of a request and then nothing more.
func stall(t *testing.T, addr, request string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reads whatever the server says until it closes the
// connection, and fails the test if that takes longer than limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit + 5*time.Second)) // the test's own bound
	b, err := io.ReadAll(c)
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() || took > limit {
		t.Fatalf("connection still open after %s (limit %s); read %q", took.Round(time.Millisecond), limit, b)
	}
	return string(b), took
}

const stalledBatch = "POST /v1/product-inventory HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"product_ids\":["

func TestStalledBodiesLoseTheirConnection(t *testing.T) {
	addr, _ := serve(t, config.HTTP{})
	for name, tc := range map[string]struct {
		req   string
		limit time.Duration
		want  string
	}{
		// The handler reads the body under the request deadline.
		"content-length, batch": {stalledBatch, requestTimeout + 2*time.Second, "504"},
		"chunked, batch": {"POST /v1/product-inventory HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n",
			requestTimeout + 2*time.Second, "504"},
		// A route that reads no body: the server's read timeout ends the
		// unfinished body.
		"content-length, get": {"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
			readHeaderTimeout + requestTimeout + 2*time.Second, ""},
		"headers never end": {"GET /healthz HTTP/1.1\r\nHost: x\r\n", readHeaderTimeout + 2*time.Second, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, _ := closedWithin(t, stall(t, addr, tc.req), tc.limit)
			if tc.want != "" && !strings.Contains(firstLine(got), tc.want) {
				t.Errorf("answer %q, want status %s", firstLine(got), tc.want)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// Stalled clients hold neither the shutdown nor the process: after the
// grace period whatever is left is closed.
func TestShutdownIsNotHeldByStalledClients(t *testing.T) {
	addr, srv := serve(t, config.HTTP{RequestTimeout: time.Minute})
	var conns []net.Conn
	for range 50 {
		conns = append(conns, stall(t, addr, stalledBatch))
	}
	// Let the server read the headers, so the connections are active.
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := listen.Shutdown(context.Background(), srv, 300*time.Millisecond, "http"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a 300ms grace", took)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { closedWithin(t, c, 5*time.Second) })
	}
	wg.Wait()
}

func TestIdleConnectionsAreBounded(t *testing.T) {
	_, srv := serve(t, config.HTTP{})
	if srv.IdleTimeout <= 0 || srv.IdleTimeout > 5*time.Minute || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 {
		t.Fatalf("idle %s read %s write %s: every timeout must be set", srv.IdleTimeout, srv.ReadTimeout, srv.WriteTimeout)
	}
	// The answer of a kept-alive connection arrives, and the connection
	// stays usable for the next request within the idle timeout.
	addr, _ := serve(t, config.HTTP{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for range 2 {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func TestMetricsLeaveThePublicPortWithAnAdminAddress(t *testing.T) {
	for admin, want := range map[string]int{"": 200, "127.0.0.1:1": 404} {
		addr, _ := serve(t, config.HTTP{AdminAddr: admin})
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("--admin-addr=%q: /metrics answered %d, want %d", admin, resp.StatusCode, want)
		}
	}
}
