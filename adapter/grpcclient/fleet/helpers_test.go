package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/gintoki/gintoki/adapter/grpcclient/fleet"
	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// readNode is the project's gRPC server on a loopback port, in front of a
// reader that names the node in every answer (as its one warehouse code),
// so a test sees which node answered.
type readNode struct {
	name   string
	addr   string
	srv    *grpc.Server
	health *health.Server
	calls  atomic.Int64
	// answer, when set, replaces the normal answer.
	answer atomic.Pointer[func(ctx context.Context, id int64) (domain.ProductInventory, error)]
}

func (n *readNode) GetProductInventory(ctx context.Context, id int64) (domain.ProductInventory, error) {
	n.calls.Add(1)
	if f := n.answer.Load(); f != nil {
		return (*f)(ctx, id)
	}
	return domain.ProductInventory{ProductID: id, Warehouses: []domain.WarehouseStock{{WarehouseCode: n.name, QtySalable: 1}}}, nil
}

func (n *readNode) BatchGetProductInventory(context.Context, []int64) (domain.BatchResult, error) {
	n.calls.Add(1)
	return domain.BatchResult{}, domain.Unavailablef("batch is not part of these tests")
}

func (n *readNode) setAnswer(f func(ctx context.Context, id int64) (domain.ProductInventory, error)) {
	n.answer.Store(&f)
}

func startNode(t *testing.T, name string) *readNode {
	t.Helper()
	return startNodeAt(t, name, "127.0.0.1:0")
}

// startNodeAt starts a node on addr: a node that went away, back on its
// address.
func startNodeAt(t *testing.T, name, addr string) *readNode {
	t.Helper()
	n := &readNode{name: name}
	srv, hs, err := grpcserver.New(n, grpcserver.Options{})
	if err != nil {
		t.Fatalf("grpcserver.New: %v", err)
	}
	lis := listenOn(t, addr)
	n.addr, n.srv, n.health = lis.Addr().String(), srv, hs
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	return n
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

type gateway struct {
	f      *fleet.Fleet
	client inventoryv1.InventoryServiceClient
	reg    *prometheus.Registry
	logs   *logtest.Buffer
}

func dialFleet(t *testing.T, backends ...string) *gateway {
	t.Helper()
	g := &gateway{reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	f, err := fleet.Dial(backends, fleet.Options{Registerer: g.reg, Logger: slog.New(slog.NewTextHandler(g.logs, nil))})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	g.f, g.client = f, inventoryv1.NewInventoryServiceClient(f.Conn())
	return g
}

// get reads product id through the fleet and returns the node that answered.
func (g *gateway) get(t *testing.T, id int64) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := g.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: id})
	if err != nil {
		return "", err
	}
	return resp.GetWarehouses()[0].GetWarehouseCode(), nil
}

// metric is the value of the series name{labels}, and whether it exists.
func (g *gateway) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func (g *gateway) calls(t *testing.T, backend, code string) float64 {
	t.Helper()
	v, _ := g.metric(t, fleet.CallsTotalName, map[string]string{"backend": backend, "code": code})
	return v
}

// waitServing polls until the serving gauge of every backend in want has
// the wanted value.
func (g *gateway) waitServing(t *testing.T, want map[string]float64) {
	t.Helper()
	polltest.Until(t, 20*time.Second, fmt.Sprint("serving gauges ", want), func() bool {
		for b, w := range want {
			if v, ok := g.metric(t, fleet.ServingName, map[string]string{"backend": b}); !ok || v != w {
				return false
			}
		}
		return true
	})
}

// listenOn listens on addr again, retrying while the old socket lingers.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	var lis net.Listener
	polltest.Until(t, 20*time.Second, "listening on "+addr, func() bool {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err == nil
	})
	return lis
}

func (n *readNode) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := n.GetProductInventory(ctx, id)
	return inv, domain.FromCache, err
}

func (n *readNode) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := n.BatchGetProductInventory(ctx, ids)
	return res, domain.FromCache, err
}
