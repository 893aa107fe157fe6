package grpcserver_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

const (
	getMethod   = "/gintoki.inventory.v1.InventoryService/GetProductInventory"
	batchMethod = "/gintoki.inventory.v1.InventoryService/BatchGetProductInventory"
)

// fakeReader answers with the functions it is given and records what it was
// asked. A nil function fails the test if called.
type fakeReader struct {
	t     *testing.T
	get   func(ctx context.Context, id int64) (domain.ProductInventory, error)
	batch func(ctx context.Context, ids []int64) (domain.BatchResult, error)

	mu       sync.Mutex
	getIDs   []int64
	batchIDs [][]int64
}

func (f *fakeReader) GetProductInventory(ctx context.Context, id int64) (domain.ProductInventory, error) {
	f.mu.Lock()
	f.getIDs = append(f.getIDs, id)
	f.mu.Unlock()
	if f.get == nil {
		f.t.Errorf("unexpected GetProductInventory(%d)", id)
		return domain.ProductInventory{}, nil
	}
	return f.get(ctx, id)
}

func (f *fakeReader) BatchGetProductInventory(ctx context.Context, ids []int64) (domain.BatchResult, error) {
	f.mu.Lock()
	f.batchIDs = append(f.batchIDs, append([]int64(nil), ids...))
	f.mu.Unlock()
	if f.batch == nil {
		f.t.Errorf("unexpected BatchGetProductInventory(%v)", ids)
		return domain.BatchResult{}, nil
	}
	return f.batch(ctx, ids)
}

func (f *fakeReader) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.getIDs) + len(f.batchIDs)
}

type harness struct {
	conn   *grpc.ClientConn
	client inventoryv1.InventoryServiceClient
	reg    *prometheus.Registry
	health *health.Server
	logs   *logtest.Buffer
}

// start serves reader over an in-memory listener; opts.Logger and
// opts.Registerer are filled in when left nil.
func start(t *testing.T, reader grpcserver.Reader, opts grpcserver.Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(h.logs, nil))
	}
	if opts.Registerer == nil {
		opts.Registerer = h.reg
	}
	srv, hs, err := grpcserver.New(reader, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.health = hs
	h.conn = dialServer(t, srv)
	h.client = inventoryv1.NewInventoryServiceClient(h.conn)
	return h
}

// dialServer runs srv on a bufconn listener and returns a client connection
// to it; both are closed when the test ends.
func dialServer(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("dial bufconn: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-done
	})
	return conn
}

// counterValue reads gintoki_grpc_requests_total{method,code} from reg; 0
// when the series does not exist.
func counterValue(t *testing.T, reg *prometheus.Registry, method, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != grpcserver.RequestsTotalName {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["method"] == method && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// histogramCount reads how many observations
// gintoki_grpc_request_duration_seconds{method} holds.
func histogramCount(t *testing.T, reg *prometheus.Registry, method string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != grpcserver.RequestDurationName {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "method" && lp.GetValue() == method {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func inventory(id int64, lines ...domain.WarehouseStock) domain.ProductInventory {
	return domain.ProductInventory{ProductID: id, Warehouses: lines}
}

func line(code string, qty int32) domain.WarehouseStock {
	return domain.WarehouseStock{WarehouseCode: code, QtySalable: qty}
}

func (f *fakeReader) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := f.GetProductInventory(ctx, id)
	return inv, domain.FromCache, err
}

func (f *fakeReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := f.BatchGetProductInventory(ctx, ids)
	return res, domain.FromCache, err
}
