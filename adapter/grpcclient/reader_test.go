package grpcclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gintoki/gintoki/adapter/grpcclient"
	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
)

// fakeReader is the read path behind the real server.
type fakeReader struct {
	get   func(ctx context.Context, id int64) (domain.ProductInventory, error)
	batch func(ctx context.Context, ids []int64) (domain.BatchResult, error)
}

func (f *fakeReader) GetProductInventory(ctx context.Context, id int64) (domain.ProductInventory, error) {
	return f.get(ctx, id)
}

func (f *fakeReader) BatchGetProductInventory(ctx context.Context, ids []int64) (domain.BatchResult, error) {
	return f.batch(ctx, ids)
}

// failing makes every call of a fakeReader return err.
func failing(err error) *fakeReader {
	return &fakeReader{
		get:   func(context.Context, int64) (domain.ProductInventory, error) { return domain.ProductInventory{}, err },
		batch: func(context.Context, []int64) (domain.BatchResult, error) { return domain.BatchResult{}, err },
	}
}

// serve runs the real grpcserver over bufconn and returns a client Reader
// talking to it.
func serve(t *testing.T, backend grpcserver.Reader, opts grpcserver.Options) *grpcclient.Reader {
	t.Helper()
	return grpcclient.New(dial(t, backend, opts))
}

// dialRaw is a connection to the real grpcserver over bufconn, for calls
// no Reader would make.
func dialRaw(t *testing.T, backend grpcserver.Reader) *grpc.ClientConn {
	t.Helper()
	return dial(t, backend, grpcserver.Options{})
}

func dial(t *testing.T, backend grpcserver.Reader, opts grpcserver.Options) *grpc.ClientConn {
	t.Helper()
	opts.Registerer = prometheus.NewRegistry()
	srv, _, err := grpcserver.New(backend, opts)
	if err != nil {
		t.Fatalf("grpcserver.New: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
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
		wg.Wait()
	})
	return conn
}

func TestRoundTripGet(t *testing.T) {
	want := domain.ProductInventory{ProductID: 42, Warehouses: []domain.WarehouseStock{
		{WarehouseCode: "BER-1", QtySalable: 7},
		{WarehouseCode: "HAM-2", QtySalable: 0},
		{WarehouseCode: "MUC-3", QtySalable: -2147483648},
		{WarehouseCode: "Zürich", QtySalable: 2147483647},
	}}
	r := serve(t, &fakeReader{get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
		if id != 42 {
			return domain.ProductInventory{}, fmt.Errorf("asked for %d", id)
		}
		return want, nil
	}}, grpcserver.Options{})

	got, err := r.GetProductInventory(t.Context(), 42)
	if err != nil {
		t.Fatalf("GetProductInventory: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestRoundTripBatch(t *testing.T) {
	tests := []struct {
		name string
		ids  []int64
		want domain.BatchResult
	}{
		{"found and not found, in request order", []int64{9, 7, 3, 1}, domain.BatchResult{
			Found: []domain.ProductInventory{
				{ProductID: 9, Warehouses: []domain.WarehouseStock{{WarehouseCode: "B", QtySalable: 2}}},
				{ProductID: 3, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A", QtySalable: 1}, {WarehouseCode: "C", QtySalable: 5}}},
			},
			NotFound: []int64{7, 1},
		}},
		{"all found", []int64{2}, domain.BatchResult{
			Found: []domain.ProductInventory{{ProductID: 2, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A", QtySalable: 1}}}},
		}},
		{"none found", []int64{5, 6}, domain.BatchResult{
			Found:    []domain.ProductInventory{},
			NotFound: []int64{5, 6},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []int64
			r := serve(t, &fakeReader{batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
				asked = append([]int64(nil), ids...)
				return tt.want, nil
			}}, grpcserver.Options{})

			got, err := r.BatchGetProductInventory(t.Context(), tt.ids)
			if err != nil {
				t.Fatalf("BatchGetProductInventory: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(asked, tt.ids) {
				t.Fatalf("server's reader asked for %v, want %v", asked, tt.ids)
			}
		})
	}
}

// Products decoded from one batch share memory; appending to one must not
// change another.
func TestBatchProductsDoNotShareCapacity(t *testing.T) {
	r := serve(t, &fakeReader{batch: func(context.Context, []int64) (domain.BatchResult, error) {
		return domain.BatchResult{Found: []domain.ProductInventory{
			{ProductID: 1, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A", QtySalable: 1}}},
			{ProductID: 2, Warehouses: []domain.WarehouseStock{{WarehouseCode: "B", QtySalable: 2}}},
		}}, nil
	}}, grpcserver.Options{})
	got, err := r.BatchGetProductInventory(t.Context(), []int64{1, 2})
	if err != nil {
		t.Fatalf("BatchGetProductInventory: %v", err)
	}
	_ = append(got.Found[0].Warehouses, domain.WarehouseStock{WarehouseCode: "Z"})
	if code := got.Found[1].Warehouses[0].WarehouseCode; code != "B" {
		t.Fatalf("second product's line became %q after appending to the first", code)
	}
}

// Every status the server sends comes back as the error the local read path
// would have returned.
func TestErrorsMapBackToDomain(t *testing.T) {
	ids := []int64{1, 2}
	tests := []struct {
		name    string
		backend *fakeReader
		id      int64   // for GetProductInventory
		batch   []int64 // for BatchGetProductInventory
		is      error
		wantMsg string // exact message of the Get error; "" = not checked
	}{
		{"invalid id rejected by the server", failing(errors.New("must not be called")), 0, []int64{1, -1},
			domain.ErrInvalidArgument, domain.ValidateProductID(0).Error()},
		{"invalid argument from the reader", failing(domain.InvalidArgumentf("product 42 is not sold here")), 42, ids,
			domain.ErrInvalidArgument, "product 42 is not sold here"},
		{"not found", failing(domain.NotFoundf("gone")), 42, ids,
			domain.ErrNotFound, "product 42 not found"},
		{"unavailable", failing(domain.Unavailablef("database is overloaded")), 42, ids,
			domain.ErrUnavailable, "database is overloaded"},
		{"deadline from the reader", failing(context.DeadlineExceeded), 42, ids,
			context.DeadlineExceeded, ""},
		{"canceled from the reader", failing(context.Canceled), 42, ids,
			context.Canceled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(t, tt.backend, grpcserver.Options{})

			_, err := r.GetProductInventory(t.Context(), tt.id)
			if !errors.Is(err, tt.is) {
				t.Errorf("get: got %v, want errors.Is %v", err, tt.is)
			}
			if tt.wantMsg != "" && err != nil && err.Error() != tt.wantMsg {
				t.Errorf("get: message %q, want %q", err.Error(), tt.wantMsg)
			}
			if _, err := r.BatchGetProductInventory(t.Context(), tt.batch); !errors.Is(err, tt.is) {
				t.Errorf("batch: got %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// An unexpected server failure is none of the known kinds.
func TestInternalIsNoKnownKind(t *testing.T) {
	r := serve(t, failing(errors.New("secret detail")), grpcserver.Options{})
	for name, call := range map[string]func() error{
		"get":   func() error { _, err := r.GetProductInventory(t.Context(), 42); return err },
		"batch": func() error { _, err := r.BatchGetProductInventory(t.Context(), []int64{1}); return err },
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, kind := range []error{domain.ErrInvalidArgument, domain.ErrNotFound, domain.ErrUnavailable, context.DeadlineExceeded, context.Canceled} {
			if errors.Is(err, kind) {
				t.Errorf("%s: %v matches %v", name, err, kind)
			}
		}
		if strings.Contains(err.Error(), "secret detail") || !strings.Contains(err.Error(), "Internal") {
			t.Errorf("%s: message %q should say Internal and hide the detail", name, err)
		}
	}
}

func TestResourceExhaustedIsUnavailable(t *testing.T) {
	r := serve(t, failing(errors.New("must not be called")), grpcserver.Options{MaxRecvMsgSize: 64})
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = int64(1_000_000 + i)
	}
	if _, err := r.BatchGetProductInventory(t.Context(), ids); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

// blocking waits for the call's context to end, like a slow database read.
func blocking(entered chan<- struct{}) *fakeReader {
	return &fakeReader{get: func(ctx context.Context, _ int64) (domain.ProductInventory, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return domain.ProductInventory{}, ctx.Err()
	}}
}

func TestOwnDeadlineIsDeadlineExceeded(t *testing.T) {
	entered := make(chan struct{}, 1)
	r := serve(t, blocking(entered), grpcserver.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	_, err := r.GetProductInventory(ctx, 42)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if !strings.HasPrefix(err.Error(), "get product 42: ") {
		t.Fatalf("message %q should name the call", err)
	}
}

func TestOwnCancelIsCanceled(t *testing.T) {
	entered := make(chan struct{}, 1)
	r := serve(t, blocking(entered), grpcserver.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := r.GetProductInventory(ctx, 42)
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// A server that cannot be reached is a temporary condition for the caller.
func TestUnreachableServerIsUnavailable(t *testing.T) {
	conn, err := grpc.NewClient("passthrough:///nowhere",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			return nil, errors.New("connection refused")
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer conn.Close()
	r := grpcclient.New(conn)
	if _, err := r.GetProductInventory(t.Context(), 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func (f *fakeReader) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := f.GetProductInventory(ctx, id)
	return inv, domain.FromCache, err
}

func (f *fakeReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := f.BatchGetProductInventory(ctx, ids)
	return res, domain.FromCache, err
}
