package fleet_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/adapter/grpcclient"
	"github.com/gintoki/gintoki/adapter/grpcclient/fleet"
	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

func TestParseTargets(t *testing.T) {
	for _, ok := range [][]string{
		{"localhost:9090"},
		{"10.0.0.1:9090", "10.0.0.2:9090"},
		{"[::1]:9090", "dns:///serve:9090", "dns://10.0.0.53/serve-b:9091"},
	} {
		if _, err := fleet.ParseTargets(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "no backend"},
		{[]string{"serve"}, `backend "serve"`},
		{[]string{":9090"}, "no host"},
		{[]string{"serve:http"}, "port"},
		{[]string{"serve:70000"}, "port"},
		{[]string{"a:1", "a:1"}, "listed twice"},
		{[]string{"dns:///serve"}, "want dns:///name:port"},
		{[]string{"unix:///tmp/s"}, `scheme "unix"`},
		{[]string{"dns:///host:port:extra%zz"}, "dns:///host:port:extra%zz"},
	} {
		_, err := fleet.ParseTargets(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestBalancesOverServingNodesOnly(t *testing.T) {
	a, b, c := startNode(t, "a"), startNode(t, "b"), startNode(t, "c")
	grpcserver.SetServing(c.health, false)
	g := dialFleet(t, a.addr, b.addr, c.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	got := map[string]int{}
	const n = 40
	for i := range n {
		node, err := g.get(t, int64(i+1))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		got[node]++
	}
	if got["c"] != 0 || got["a"] < n/4 || got["b"] < n/4 {
		t.Fatalf("answers per node %v: want a and b about half each, c none", got)
	}
	if v, ok := g.metric(t, fleet.ServingName, map[string]string{"backend": c.addr}); !ok || v != 0 {
		t.Fatalf("serving{c} = %v (present %v), want 0", v, ok)
	}
	for _, nd := range []*readNode{a, b} {
		if v := g.calls(t, nd.addr, "OK"); v != float64(got[nd.name]) {
			t.Errorf("calls{%s,OK} = %v, want %d", nd.name, v, got[nd.name])
		}
	}
	if err := g.f.Ready(t.Context()); err != nil {
		t.Fatalf("Ready with two serving nodes: %v", err)
	}
}

func TestNodeTurnedNotServingStopsGettingCalls(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	g := dialFleet(t, a.addr, b.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	grpcserver.SetServing(b.health, false)
	g.waitServing(t, map[string]float64{b.addr: 0})
	before := b.calls.Load()
	for i := range 20 {
		if node, err := g.get(t, int64(i+1)); err != nil || node != "a" {
			t.Fatalf("call %d answered by %q (%v), want a", i, node, err)
		}
	}
	if n := b.calls.Load() - before; n != 0 {
		t.Fatalf("the NOT_SERVING node got %d calls", n)
	}

	grpcserver.SetServing(b.health, true)
	g.waitServing(t, map[string]float64{b.addr: 1})
	polltest.Until(t, 20*time.Second, "calls to reach b again", func() bool {
		node, err := g.get(t, 1)
		return err == nil && node == "b"
	})
}

// A node killed with a call in flight: the call is retried on the other
// node and succeeds; later calls go to the other node only.
func TestKilledNodeCallIsRetriedOnAnother(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	entered := make(chan struct{}, 1)
	a.setAnswer(func(ctx context.Context, id int64) (domain.ProductInventory, error) {
		entered <- struct{}{}
		<-ctx.Done() // until the kill cuts the call
		return domain.ProductInventory{}, ctx.Err()
	})
	g := dialFleet(t, a.addr, b.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	type result struct {
		node string
		err  error
	}
	res := make(chan result, 1)
	for try := 0; ; try++ {
		if try == 20 {
			t.Fatal("20 calls, none reached a")
		}
		go func() {
			node, err := g.get(t, 7)
			res <- result{node, err}
		}()
		select {
		case r := <-res:
			if r.err != nil || r.node != "b" {
				t.Fatalf("answered by %q (%v) before a was killed", r.node, r.err)
			}
			continue
		case <-entered:
		}
		break
	}
	a.srv.Stop()
	r := <-res
	if r.err != nil || r.node != "b" {
		t.Fatalf("call in flight on the killed node: answered by %q, error %v; want b", r.node, r.err)
	}
	if v := g.calls(t, a.addr, "Unavailable"); v != 1 {
		t.Errorf("calls{a,Unavailable} = %v, want 1 (the cut attempt)", v)
	}
	for i := range 10 {
		if node, err := g.get(t, int64(i+1)); err != nil || node != "b" {
			t.Fatalf("call %d after the kill: %q %v", i, node, err)
		}
	}
	g.waitServing(t, map[string]float64{a.addr: 0, b.addr: 1})
}

func busy(context.Context, int64) (domain.ProductInventory, error) {
	return domain.ProductInventory{}, domain.Unavailablef("database busy: 32 queries in flight")
}

// A node that answers UNAVAILABLE while SERVING (its database is busy):
// every call it fails is retried on the other node, also with calls running
// concurrently, where round_robin's shared counter alone would send some
// retries back to the busy node.
func TestUnavailableIsRetriedOnAnotherNode(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	a.setAnswer(busy)
	g := dialFleet(t, a.addr, b.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	const workers, each = 8, 50
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if node, err := g.get(t, int64(w*each+i+1)); err != nil || node != "b" {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, errors.Join(err, errors.New("answered by "+node)))
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed, first: %v", n, workers*each, firstErr.Load())
	}
	if v := g.calls(t, b.addr, "OK"); v != workers*each {
		t.Errorf("calls{b,OK} = %v, want %d", v, workers*each)
	}
	if v := g.calls(t, a.addr, "Unavailable"); v < 1 {
		t.Errorf("calls{a,Unavailable} = %v: the busy node was never tried", v)
	}
}

// Both nodes busy: the one retry went to the other node, and the caller
// gets the node's own message, no address.
func TestBothNodesBusy(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	a.setAnswer(busy)
	b.setAnswer(busy)
	g := dialFleet(t, a.addr, b.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	_, err := g.get(t, 1)
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "read node unavailable: database busy: 32 queries in flight" {
		t.Fatalf("got %v", err)
	}
	if va, vb := g.calls(t, a.addr, "Unavailable"), g.calls(t, b.addr, "Unavailable"); va != 1 || vb != 1 {
		t.Fatalf("attempts a=%v b=%v, want one on each", va, vb)
	}
	// Through the reader, as the HTTP API sees it.
	_, err = grpcclient.New(g.f.Conn()).GetProductInventory(t.Context(), 1)
	if !errors.Is(err, domain.ErrUnavailable) || err.Error() != "read node unavailable: database busy: 32 queries in flight" {
		t.Fatalf("reader: %v", err)
	}
}

func TestNoNodeReachable(t *testing.T) {
	dead1, dead2 := deadAddr(t), deadAddr(t)
	g := dialFleet(t, dead1, dead2)

	_, err := g.get(t, 1)
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != fleet.MsgNoNode {
		t.Fatalf("got %v, want UNAVAILABLE %q", err, fleet.MsgNoNode)
	}
	_, err = grpcclient.New(g.f.Conn()).GetProductInventory(t.Context(), 1)
	if !errors.Is(err, domain.ErrUnavailable) || err.Error() != fleet.MsgNoNode {
		t.Fatalf("reader: %v", err)
	}
	rerr := g.f.Ready(t.Context())
	if rerr == nil || strings.Contains(rerr.Error(), "127.0.0.1") {
		t.Fatalf("Ready: %v; want an error naming no address", rerr)
	}
	// The details are for the operator.
	if logs := g.logs.String(); !strings.Contains(logs, "read node call failed") || !strings.Contains(logs, "127.0.0.1") {
		t.Fatalf("log lacks the failure's details:\n%s", logs)
	}
	g.waitServing(t, map[string]float64{dead1: 0, dead2: 0})
}

// One node goes away and comes back on the same address: the fleet finds it
// again without a restart.
func TestNodeComingBackIsUsedAgain(t *testing.T) {
	a := startNode(t, "a")
	g := dialFleet(t, a.addr)
	g.waitServing(t, map[string]float64{a.addr: 1})
	a.srv.Stop()
	g.waitServing(t, map[string]float64{a.addr: 0})
	if err := g.f.Ready(t.Context()); err == nil {
		t.Fatal("ready with the only node gone")
	}

	startNodeAt(t, "a2", a.addr)
	g.waitServing(t, map[string]float64{a.addr: 1})
	if node, err := g.get(t, 1); err != nil || node != "a2" {
		t.Fatalf("after the restart: %q %v", node, err)
	}
}

// A call that finds no serving node waits a moment for one, and the fleet
// re-dials at once instead of when its backoff says: in a rolling restart
// the node stopped next turns NOT_SERVING while the gateway may still be
// backing off from the node started before it, which is up and ready.
func TestCallFindingNoNodeWaitsForOneComingBack(t *testing.T) {
	a := startNode(t, "a")
	g := dialFleet(t, a.addr)
	g.waitServing(t, map[string]float64{a.addr: 1})
	a.srv.Stop()
	g.waitServing(t, map[string]float64{a.addr: 0})
	// The attempts to reach a again come ~0.25, 0.65, 1.3, 2.3 and 3.9 s
	// after it went (each delay +-20%): 2.9 s on, the next one is at least a
	// quarter of a second away, so only a re-dial finds a at once.
	time.Sleep(2900 * time.Millisecond)

	startNodeAt(t, "a2", a.addr)
	if node, err := g.get(t, 1); err != nil || node != "a2" {
		t.Fatalf("a call while a was back but not yet reconnected: %q %v", node, err)
	}
}

// A host:port and a dns:/// backend in one list; the labels are the
// configured strings.
func TestDNSAndHostPortBackends(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	_, port, _ := strings.Cut(a.addr, ":")
	viaDNS := "dns:///localhost:" + port
	g := dialFleet(t, viaDNS, b.addr)
	g.waitServing(t, map[string]float64{viaDNS: 1, b.addr: 1})
	seen := map[string]bool{}
	for i := range 10 {
		node, err := g.get(t, int64(i+1))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		seen[node] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("answered by %v, want both", seen)
	}
	if g.calls(t, viaDNS, "OK") < 1 || g.calls(t, b.addr, "OK") < 1 {
		t.Fatalf("calls not counted under the configured backends")
	}
}

// grpcserver.Shutdown under a steady stream of calls through the fleet: the
// fleet stops sending to the node while the node still answers, and no
// call fails.
func TestDrainingNodeGetsNoCallsBeforeItCloses(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	g := dialFleet(t, a.addr, b.addr)
	g.waitServing(t, map[string]float64{a.addr: 1, b.addr: 1})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var total, failed atomic.Int64
	var firstErr atomic.Value
	for range 3 {
		wg.Go(func() {
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				if _, err := g.get(t, i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	polltest.Until(t, 20*time.Second, "calls on a", func() bool { return a.calls.Load() > 20 })

	const drain = 3 * time.Second
	started := time.Now()
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		grpcserver.Shutdown(ctx, a.srv, a.health, drain)
		close(done)
	}()
	g.waitServing(t, map[string]float64{a.addr: 0})
	// Calls picked just before the fleet saw NOT_SERVING may still arrive.
	time.Sleep(100 * time.Millisecond)
	seen := a.calls.Load()

	// Still open: a call of its own reaches it.
	conn, err := grpc.NewClient("passthrough:///"+a.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := inventoryv1.NewInventoryServiceClient(conn).GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1})
	if err != nil || resp.GetWarehouses()[0].GetWarehouseCode() != "a" {
		t.Fatalf("draining node refused a direct call %.1fs into the drain: %v", time.Since(started).Seconds(), err)
	}
	if time.Since(started) >= drain {
		t.Fatalf("the fleet took %s to see NOT_SERVING, longer than the drain", time.Since(started))
	}
	conn.Close()

	<-done
	time.Sleep(200 * time.Millisecond) // the stream goes on after the close
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed, first: %v", n, total.Load(), firstErr.Load())
	}
	if n := a.calls.Load() - seen; n != 1 {
		t.Fatalf("the draining node got %d calls after the fleet saw it NOT_SERVING, want only the direct one", n-1)
	}
	for _, code := range []string{"Unavailable", "Canceled", "Unknown", "Internal"} {
		if v := g.calls(t, a.addr, code); v != 0 {
			t.Errorf("calls{a,%s} = %v, want 0", code, v)
		}
	}
	t.Logf("%d calls, %s of drain", total.Load(), time.Since(started).Round(time.Millisecond))
}

// Client spans go to the given tracer provider.
func TestClientSpans(t *testing.T) {
	a := startNode(t, "a")
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	f, err := fleet.Dial([]string{a.addr}, fleet.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := grpcclient.New(f.Conn()).GetProductInventory(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	// One span, the call's: the health watches make none.
	var names []string
	for _, s := range rec.Started() {
		names = append(names, s.Name())
	}
	if want := grpcserver.ServiceName + "/GetProductInventory"; len(names) != 1 || names[0] != want || len(rec.Ended()) != 1 {
		t.Fatalf("client spans %v (%d ended), want [%s], ended", names, len(rec.Ended()), want)
	}
}
