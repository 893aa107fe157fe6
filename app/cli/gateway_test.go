package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// Two read nodes behind one gateway (--backend a,b): calls go to both; one
// node stopped under a steady stream of requests fails none of them, the
// gateway stays ready on the other, and its metrics say which is serving.
func TestGatewayOverTwoReadNodes(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	if code, _, stderr := runMain("seed", "--db", dsn, "--products", "50", "--warehouses", "3"); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	grpcA, grpcB := freeAddr(t), freeAddr(t)
	// A drain longer than the default, for a loaded machine.
	a := start(t, "serve", "--db", dsn, "--http-addr", freeAddr(t), "--grpc-addr", grpcA, "--grpc-drain-period", "3s")
	start(t, "serve", "--db", dsn, "--http-addr", freeAddr(t), "--grpc-addr", grpcB)
	gwAddr := freeAddr(t)
	start(t, "gateway", "--backend", grpcA+","+grpcB, "--http-addr", gwAddr)
	gw := "http://" + gwAddr

	serving := func(backend string) float64 {
		return metricValue(t, gw, fmt.Sprintf(`gintoki_gateway_backend_serving{backend=%q}`, backend))
	}
	calls := func(backend, code string) float64 {
		return metricValue(t, gw, fmt.Sprintf(`gintoki_gateway_backend_calls_total{backend=%q,code=%q}`, backend, code))
	}
	polltest.Until(t, 20*time.Second, "gateway ready", func() bool { return ready(gw) })
	polltest.Until(t, 20*time.Second, "both read nodes serving", func() bool { return serving(grpcA) == 1 && serving(grpcB) == 1 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var total atomic.Int64
	var failures sync.Map
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				resp, err := http.Get(fmt.Sprintf("%s/cache?product_id=%d", gw, (w*25+i)%50+1))
				if err != nil {
					failures.Store(err.Error(), true)
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failures.Store(fmt.Sprintf("%d %s", resp.StatusCode, body), true)
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	stopStream := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopStream) // before the processes stop, also when the test fails early
	polltest.Until(t, 20*time.Second, "calls on both read nodes", func() bool { return calls(grpcA, "OK") > 10 && calls(grpcB, "OK") > 10 })

	// Stop a: it turns NOT_SERVING, the gateway moves away while a still
	// answers (a call of our own reaches it), then a closes.
	a.stop <- os.Interrupt
	polltest.Until(t, 10*time.Second, "the gateway to see a NOT_SERVING", func() bool { return serving(grpcA) == 0 })
	conn, err := grpc.NewClient(grpcA, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := inventoryv1.NewInventoryServiceClient(conn).GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 1}); err != nil {
		t.Fatalf("read node a refused a call while draining: %v", err)
	}
	a.shutdown(t)
	time.Sleep(300 * time.Millisecond)
	stopStream()
	failures.Range(func(k, _ any) bool { t.Errorf("a request failed while a read node stopped: %v", k); return true })

	_, metrics := get(t, gw+"/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, fmt.Sprintf(`gintoki_gateway_backend_calls_total{backend=%q,`, grpcA)) && !strings.Contains(line, `code="OK"`) {
			t.Errorf("an attempt on the stopping read node failed: %s", line)
		}
	}
	if serving(grpcA) != 0 || serving(grpcB) != 1 || !ready(gw) {
		t.Fatalf("after stopping a: serving a=%v b=%v, ready %v; want 0, 1, ready", serving(grpcA), serving(grpcB), ready(gw))
	}
	t.Logf("%d requests, none failed", total.Load())
}

// No read node reachable (backends from GINTOKI_BACKEND): 503s that name
// no address; the addresses and dial errors are in the gateway's log.
func TestGatewayWithNoReadNode(t *testing.T) {
	dead1, dead2 := freeAddr(t), freeAddr(t)
	gwAddr := freeAddr(t)
	p := startWithEnv(t, map[string]string{"GINTOKI_BACKEND": dead1 + "," + dead2}, "gateway", "--http-addr", gwAddr)
	gw := "http://" + gwAddr
	polltest.Until(t, 20*time.Second, "gateway listening", func() bool {
		resp, err := http.Get(gw + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	code, body := get(t, gw+"/readyz")
	if code != 503 || !strings.Contains(body, "no read node is serving") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	assertNamesNoAddress(t, "/readyz", body)
	code, body = get(t, gw+"/cache?product_id=1")
	if code != 503 || !strings.Contains(body, `"no read node available"`) {
		t.Errorf("/cache: %d %s", code, body)
	}
	assertNamesNoAddress(t, "/cache", body)
	code, body = post(t, gw+"/v1/product-inventory", `{"product_ids":[1,2]}`)
	if code != 503 {
		t.Errorf("batch: %d %s", code, body)
	}
	assertNamesNoAddress(t, "batch", body)

	_, metrics := get(t, gw+"/metrics")
	for _, b := range []string{dead1, dead2} {
		if !strings.Contains(metrics, fmt.Sprintf(`gintoki_gateway_backend_serving{backend=%q} 0`, b)) {
			t.Errorf("metrics lack serving{backend=%q} 0", b)
		}
	}
	if logs := p.stderr.String(); !strings.Contains(logs, "read node call failed") || !strings.Contains(logs, "127.0.0.1") {
		t.Errorf("the gateway's log lacks the failure's details:\n%s", logs)
	}
}

func assertNamesNoAddress(t *testing.T, what, body string) {
	t.Helper()
	for _, leak := range []string{"127.0.0.1", "dial", "connection refused", "transport"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s answer %s contains %q", what, body, leak)
		}
	}
}
