package grpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

func TestGetProductInventoryOK(t *testing.T) {
	reader := &fakeReader{t: t, get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
		return inventory(id, line("BER-1", 7), line("HAM-2", 0), line("MUC-3", -2)), nil
	}}
	h := start(t, reader, grpcserver.Options{})

	got, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 42})
	if err != nil {
		t.Fatalf("GetProductInventory: %v", err)
	}
	want := &inventoryv1.ProductInventory{ProductId: 42, Warehouses: []*inventoryv1.WarehouseStock{
		{WarehouseCode: "BER-1", QtySalable: 7},
		{WarehouseCode: "HAM-2", QtySalable: 0},
		{WarehouseCode: "MUC-3", QtySalable: -2},
	}}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !slices.Equal(reader.getIDs, []int64{42}) {
		t.Fatalf("reader asked for %v, want [42]", reader.getIDs)
	}
}

func TestBatchGetProductInventoryOK(t *testing.T) {
	reader := &fakeReader{t: t, batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
		return domain.BatchResult{
			Found:    []domain.ProductInventory{inventory(9, line("B", 2)), inventory(3, line("A", 1), line("C", 5))},
			NotFound: []int64{7, 1},
		}, nil
	}}
	h := start(t, reader, grpcserver.Options{})

	got, err := h.client.BatchGetProductInventory(t.Context(),
		&inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{9, 7, 3, 1}})
	if err != nil {
		t.Fatalf("BatchGetProductInventory: %v", err)
	}
	want := &inventoryv1.BatchGetProductInventoryResponse{
		ProductInventories: []*inventoryv1.ProductInventory{
			{ProductId: 9, Warehouses: []*inventoryv1.WarehouseStock{{WarehouseCode: "B", QtySalable: 2}}},
			{ProductId: 3, Warehouses: []*inventoryv1.WarehouseStock{{WarehouseCode: "A", QtySalable: 1}, {WarehouseCode: "C", QtySalable: 5}}},
		},
		NotFoundProductIds: []int64{7, 1},
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if len(reader.batchIDs) != 1 || !slices.Equal(reader.batchIDs[0], []int64{9, 7, 3, 1}) {
		t.Fatalf("reader asked for %v, want one batch [9 7 3 1]", reader.batchIDs)
	}
}

func TestBatchAllNotFound(t *testing.T) {
	reader := &fakeReader{t: t, batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
		return domain.BatchResult{NotFound: ids}, nil
	}}
	h := start(t, reader, grpcserver.Options{})

	got, err := h.client.BatchGetProductInventory(t.Context(),
		&inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{5, 4}})
	if err != nil {
		t.Fatalf("BatchGetProductInventory: %v", err)
	}
	if len(got.GetProductInventories()) != 0 || !slices.Equal(got.GetNotFoundProductIds(), []int64{5, 4}) {
		t.Fatalf("got %v, want nothing found and not_found [5 4]", got)
	}
}

func idsFrom(first int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	return ids
}

// Bad requests are refused before the reader sees them, with the domain's
// message.
func TestInvalidRequests(t *testing.T) {
	tests := []struct {
		name    string
		call    func(ctx context.Context, c inventoryv1.InventoryServiceClient) error
		wantMsg string
	}{
		{"zero id", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 0})
			return err
		}, domain.ValidateProductID(0).Error()},
		{"negative id", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: -5})
			return err
		}, domain.ValidateProductID(-5).Error()},
		{"empty request message", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{})
			return err
		}, domain.ValidateProductID(0).Error()},
		{"empty batch", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.BatchGetProductInventory(ctx, &inventoryv1.BatchGetProductInventoryRequest{})
			return err
		}, domain.ValidateBatch(nil).Error()},
		{"batch over the limit", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.BatchGetProductInventory(ctx, &inventoryv1.BatchGetProductInventoryRequest{ProductIds: idsFrom(1, domain.MaxBatchSize+1)})
			return err
		}, domain.ValidateBatch(idsFrom(1, domain.MaxBatchSize+1)).Error()},
		{"batch with a negative id", func(ctx context.Context, c inventoryv1.InventoryServiceClient) error {
			_, err := c.BatchGetProductInventory(ctx, &inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{3, -1}})
			return err
		}, domain.ValidateProductID(-1).Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := &fakeReader{t: t}
			h := start(t, reader, grpcserver.Options{})
			err := tt.call(t.Context(), h.client)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || st.Message() != tt.wantMsg {
				t.Fatalf("got %v %q, want InvalidArgument %q", st.Code(), st.Message(), tt.wantMsg)
			}
			if n := reader.calls(); n != 0 {
				t.Fatalf("reader was called %d times for an invalid request", n)
			}
		})
	}
}

// A full batch of exactly MaxBatchSize ids is allowed.
func TestBatchAtTheLimit(t *testing.T) {
	reader := &fakeReader{t: t, batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
		return domain.BatchResult{NotFound: ids}, nil
	}}
	h := start(t, reader, grpcserver.Options{})
	got, err := h.client.BatchGetProductInventory(t.Context(),
		&inventoryv1.BatchGetProductInventoryRequest{ProductIds: idsFrom(1, domain.MaxBatchSize)})
	if err != nil {
		t.Fatalf("BatchGetProductInventory: %v", err)
	}
	if len(got.GetNotFoundProductIds()) != domain.MaxBatchSize {
		t.Fatalf("got %d not-found ids, want %d", len(got.GetNotFoundProductIds()), domain.MaxBatchSize)
	}
}

// Each error kind of the read path becomes its status code, for both RPCs.
func TestReaderErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		getMsg   string // expected message of GetProductInventory(42)
		batchMsg string // expected message of a batch of 2
	}{
		{"invalid argument from the reader", domain.InvalidArgumentf("product 42 is not sold here"),
			codes.InvalidArgument, "product 42 is not sold here", "product 42 is not sold here"},
		{"not found with a message", domain.NotFoundf("no stock"),
			codes.NotFound, "product 42 not found", "batch of 2 products not found"},
		{"bare not found sentinel, wrapped", fmt.Errorf("read: %w", domain.ErrNotFound),
			codes.NotFound, "product 42 not found", "batch of 2 products not found"},
		{"unavailable", domain.Unavailablef("database is overloaded, retry later"),
			codes.Unavailable, "database is overloaded, retry later", "database is overloaded, retry later"},
		{"deadline from the reader", fmt.Errorf("query stock: %w", context.DeadlineExceeded),
			codes.DeadlineExceeded, "deadline exceeded while reading product 42", "deadline exceeded while reading batch of 2 products"},
		{"canceled from the reader", fmt.Errorf("query stock: %w", context.Canceled),
			codes.Canceled, "request canceled while reading product 42", "request canceled while reading batch of 2 products"},
		{"anything else", errors.New("dial tcp 10.1.2.3:3306: secret-host refused"),
			codes.Internal, "internal error while reading product 42", "internal error while reading batch of 2 products"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := &fakeReader{t: t,
				get: func(context.Context, int64) (domain.ProductInventory, error) {
					return domain.ProductInventory{}, tt.err
				},
				batch: func(context.Context, []int64) (domain.BatchResult, error) {
					return domain.BatchResult{}, tt.err
				},
			}
			h := start(t, reader, grpcserver.Options{})

			_, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 42})
			if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.getMsg {
				t.Errorf("get: got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.getMsg)
			}
			_, err = h.client.BatchGetProductInventory(t.Context(), &inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{1, 2}})
			if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.batchMsg {
				t.Errorf("batch: got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.batchMsg)
			}

			// Only unexpected errors are logged, and then with their real text.
			logs := h.logs.String()
			if tt.code == codes.Internal {
				if !strings.Contains(logs, "secret-host refused") {
					t.Errorf("internal error not logged; logs: %s", logs)
				}
			} else if logs != "" {
				t.Errorf("expected no logs for %v, got: %s", tt.code, logs)
			}
		})
	}
}

// readerExit is what a blocked reader saw when its context ended.
type readerExit struct {
	err         error
	hadDeadline bool
}

// blockingReader waits for its context to end, as a slow database read
// would. It signals entered when a call arrives and reports on exited.
func blockingReader(t *testing.T, entered chan<- struct{}, exited chan<- readerExit) *fakeReader {
	return &fakeReader{t: t, get: func(ctx context.Context, _ int64) (domain.ProductInventory, error) {
		entered <- struct{}{}
		<-ctx.Done()
		_, hasDeadline := ctx.Deadline()
		exited <- readerExit{err: ctx.Err(), hadDeadline: hasDeadline}
		return domain.ProductInventory{}, ctx.Err()
	}}
}

// The caller's deadline travels to the reader, which gives up, and the
// caller gets DEADLINE_EXCEEDED.
func TestClientDeadlinePassesWhileReaderBlocks(t *testing.T) {
	entered, exited := make(chan struct{}, 1), make(chan readerExit, 1)
	h := start(t, blockingReader(t, entered, exited), grpcserver.Options{})

	// Long enough for the call to reach the reader even on a loaded machine;
	// the test lasts this long because the reader only gives up at the end.
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	_, err := h.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 42})
	if code := status.Code(err); code != codes.DeadlineExceeded {
		t.Fatalf("got %v (%v), want DeadlineExceeded", code, err)
	}
	select {
	case <-entered:
	default:
		t.Fatal("the call never reached the reader; the deadline passed on the way")
	}
	// Which side's timer fires first is a race: the server's own copy of the
	// deadline (DeadlineExceeded) or the client's reset of the stream
	// (Canceled). Either way the reader was released, and it had the deadline.
	exit := <-exited
	if !exit.hadDeadline {
		t.Error("the reader's context carried no deadline")
	}
	if !errors.Is(exit.err, context.DeadlineExceeded) && !errors.Is(exit.err, context.Canceled) {
		t.Errorf("reader's context ended with %v", exit.err)
	}
}

func TestClientCancelReachesReader(t *testing.T) {
	entered, exited := make(chan struct{}, 1), make(chan readerExit, 1)
	h := start(t, blockingReader(t, entered, exited), grpcserver.Options{})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := h.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 42})
		errc <- err
	}()
	<-entered // cancel only once the call is inside the reader
	cancel()
	if code := status.Code(<-errc); code != codes.Canceled {
		t.Fatalf("got %v, want Canceled", code)
	}
	if exit := <-exited; !errors.Is(exit.err, context.Canceled) {
		t.Fatalf("reader's context ended with %v, want canceled", exit.err)
	}
}

func TestPanicInReaderBecomesInternal(t *testing.T) {
	reader := &fakeReader{t: t, get: func(context.Context, int64) (domain.ProductInventory, error) {
		panic("nil map somewhere")
	}}
	h := start(t, reader, grpcserver.Options{})

	_, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1})
	if code := status.Code(err); code != codes.Internal {
		t.Fatalf("got %v, want Internal", code)
	}
	if got := counterValue(t, h.reg, getMethod, "Internal"); got != 1 {
		t.Fatalf("Internal counted %v times, want 1", got)
	}
	if !strings.Contains(h.logs.String(), "nil map somewhere") {
		t.Fatalf("panic not logged; logs: %s", h.logs.String())
	}
	// The server survives and keeps answering.
	if _, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: -1}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("after the panic: got %v, want InvalidArgument", err)
	}
}

func TestMetricsCountEveryCall(t *testing.T) {
	reader := &fakeReader{t: t,
		get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
			if id == 404 {
				return domain.ProductInventory{}, domain.NotFoundf("product %d not found", id)
			}
			return inventory(id, line("A", 1)), nil
		},
		batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
			return domain.BatchResult{NotFound: ids}, nil
		},
	}
	h := start(t, reader, grpcserver.Options{})
	ctx := t.Context()
	for _, id := range []int64{1, 2, 404, 0, -3} {
		_, _ = h.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: id})
	}
	_, _ = h.client.BatchGetProductInventory(ctx, &inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{1}})

	for _, c := range []struct {
		method, code string
		want         float64
	}{
		{getMethod, "OK", 2},
		{getMethod, "NotFound", 1},
		{getMethod, "InvalidArgument", 2},
		{getMethod, "Internal", 0},
		{batchMethod, "OK", 1},
		{batchMethod, "InvalidArgument", 0},
	} {
		if got := counterValue(t, h.reg, c.method, c.code); got != c.want {
			t.Errorf("%s{method=%q,code=%q} = %v, want %v", grpcserver.RequestsTotalName, c.method, c.code, got, c.want)
		}
	}
	if got := histogramCount(t, h.reg, getMethod); got != 5 {
		t.Errorf("duration observations for get = %d, want 5", got)
	}
	if got := histogramCount(t, h.reg, batchMethod); got != 1 {
		t.Errorf("duration observations for batch = %d, want 1", got)
	}
}

// Two servers in one process may share a registry; their counts add up.
func TestNewTwiceOnOneRegistryShares(t *testing.T) {
	reg := prometheus.NewRegistry()
	reader := &fakeReader{t: t, get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
		return inventory(id, line("A", 1)), nil
	}}
	for range 2 {
		h := start(t, reader, grpcserver.Options{Registerer: reg})
		if _, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1}); err != nil {
			t.Fatalf("GetProductInventory: %v", err)
		}
	}
	if got := counterValue(t, reg, getMethod, "OK"); got != 2 {
		t.Fatalf("shared counter = %v, want 2", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	clash := prometheus.NewRegistry()
	// Same name, different labels: cannot be shared.
	clash.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: grpcserver.RequestsTotalName, Help: "other"}))

	tests := []struct {
		name   string
		reader grpcserver.Reader
		opts   grpcserver.Options
	}{
		{"nil reader", nil, grpcserver.Options{}},
		{"negative max message size", &fakeReader{t: t}, grpcserver.Options{MaxRecvMsgSize: -1}},
		{"metric name taken by another collector", &fakeReader{t: t}, grpcserver.Options{Registerer: clash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hs, err := grpcserver.New(tt.reader, tt.opts)
			if err == nil || srv != nil || hs != nil {
				t.Fatalf("New = %v, %v, %v; want only an error", srv, hs, err)
			}
		})
	}
}

// Without a Registerer the server still serves; it just records nothing.
func TestNewWithoutOptions(t *testing.T) {
	reader := &fakeReader{t: t, get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
		return inventory(id, line("A", 1)), nil
	}}
	srv, _, err := grpcserver.New(reader, grpcserver.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	client := inventoryv1.NewInventoryServiceClient(dialServer(t, srv))
	if _, err := client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 3}); err != nil {
		t.Fatalf("GetProductInventory: %v", err)
	}
}

func TestMaxRecvMsgSize(t *testing.T) {
	reader := &fakeReader{t: t}
	h := start(t, reader, grpcserver.Options{MaxRecvMsgSize: 64})
	_, err := h.client.BatchGetProductInventory(t.Context(),
		&inventoryv1.BatchGetProductInventoryRequest{ProductIds: idsFrom(1_000_000, 100)})
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	if reader.calls() != 0 {
		t.Fatal("an oversized request reached the reader")
	}
}

func TestHealthService(t *testing.T) {
	h := start(t, &fakeReader{t: t}, grpcserver.Options{})
	hc := healthpb.NewHealthClient(h.conn)

	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health check %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	for _, svc := range []string{"", grpcserver.ServiceName} {
		if got := check(svc); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, want SERVING", svc, got)
		}
	}

	grpcserver.SetServing(h.health, false)
	for _, svc := range []string{"", grpcserver.ServiceName} {
		if got := check(svc); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after SetServing(false): health %q = %v, want NOT_SERVING", svc, got)
		}
	}

	grpcserver.SetServing(h.health, true)
	if got := check(grpcserver.ServiceName); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("after SetServing(true): health = %v, want SERVING", got)
	}
}

func TestServiceNameMatchesGeneratedCode(t *testing.T) {
	if got := inventoryv1.InventoryService_ServiceDesc.ServiceName; got != grpcserver.ServiceName {
		t.Fatalf("ServiceName = %q, generated code says %q", grpcserver.ServiceName, got)
	}
}

func TestReflectionListsServices(t *testing.T) {
	h := start(t, &fakeReader{t: t}, grpcserver.Options{})
	stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("open reflection stream: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{grpcserver.ServiceName, "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %q", names, want)
		}
	}
	_ = stream.CloseSend()
}

func TestServerSpansUseInjectedTracerProvider(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reader := &fakeReader{t: t, get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
		return inventory(id, line("A", 1)), nil
	}}
	h := start(t, reader, grpcserver.Options{TracerProvider: tp})
	if _, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1}); err != nil {
		t.Fatalf("GetProductInventory: %v", err)
	}

	// The server ends its span after the reply is on the wire, so the client
	// can see the answer first: wait for the span rather than race it.
	want := strings.TrimPrefix(getMethod, "/")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range rec.Ended() {
			if s.Name() == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span named %q recorded", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Health checks (gateways watch every node's) and reflection make no spans
// unless background work is traced; inventory calls always do.
func TestHealthChecksAreNotTraced(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			telemetry.SetTraceBackground(background)
			t.Cleanup(func() { telemetry.SetTraceBackground(false) })
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			reader := &fakeReader{t: t, get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
				return inventory(id, line("A", 1)), nil
			}}
			h := start(t, reader, grpcserver.Options{TracerProvider: tp})
			if _, err := healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1}); err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(getMethod, "/")
			var names []string
			deadline := time.Now().Add(10 * time.Second)
			for !slices.Contains(names, want) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				names = names[:0]
				for _, s := range rec.Ended() {
					names = append(names, s.Name())
				}
			}
			traced := slices.Contains(names, "grpc.health.v1.Health/Check")
			if !slices.Contains(names, want) || traced != background {
				t.Fatalf("spans %v: want %s, and the health check traced only with background tracing", names, want)
			}
		})
	}
}
