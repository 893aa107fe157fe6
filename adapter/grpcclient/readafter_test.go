package grpcclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// boundedReader records the read-after tokens it is given and answers
// "database" for them.
type boundedReader struct {
	*fakeReader
	mu  sync.Mutex
	got []string
}

func (b *boundedReader) GetProductInventoryAfter(ctx context.Context, id int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	b.mu.Lock()
	b.got = append(b.got, after.String())
	b.mu.Unlock()
	inv, err := b.GetProductInventory(ctx, id)
	return inv, domain.FromDatabase, err
}

func (b *boundedReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	b.mu.Lock()
	b.got = append(b.got, after.String())
	b.mu.Unlock()
	res, err := b.BatchGetProductInventory(ctx, ids)
	return res, domain.FromDatabase, err
}

// A read-after token crosses gRPC (read_after_gtid) to the node's bounded
// read, the answer's source comes back in the trailer, and a read without
// a token stays the plain one: what the gateway forwards.
func TestReadAfterTokenCrossesTheWire(t *testing.T) {
	backend := &boundedReader{fakeReader: &fakeReader{
		get: func(context.Context, int64) (domain.ProductInventory, error) {
			return domain.ProductInventory{ProductID: 4, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A"}}}, nil
		},
		batch: func(context.Context, []int64) (domain.BatchResult, error) {
			return domain.BatchResult{NotFound: []int64{4}}, nil
		},
	}}
	r := serve(t, backend, grpcserver.Options{})
	after, _ := domain.ParseReadAfter("0-1-4711,1-2-9")
	if _, src, err := r.GetProductInventoryAfter(t.Context(), 4, after); err != nil || src != domain.FromDatabase {
		t.Fatalf("get: %v from %v", err, src)
	}
	if _, src, err := r.BatchGetProductInventoryAfter(t.Context(), []int64{4}, after); err != nil || src != domain.FromDatabase {
		t.Fatalf("batch: %v from %v", err, src)
	}
	if _, err := r.GetProductInventory(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	if len(backend.got) != 2 || backend.got[0] != after.String() || backend.got[1] != after.String() {
		t.Fatalf("the node got tokens %v, want %s twice (and none for the plain read)", backend.got, after)
	}
}

// A malformed token is INVALID_ARGUMENT with a message, from the server
// itself, whatever the client sends.
func TestMalformedReadAfterTokenIsInvalidArgument(t *testing.T) {
	conn := dialRaw(t, &boundedReader{fakeReader: failing(errors.New("must not be called"))})
	client := inventoryv1.NewInventoryServiceClient(conn)
	_, err := client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1, ReadAfterGtid: "yesterday"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Fatalf("get: %v", err)
	}
	_, err = client.BatchGetProductInventory(t.Context(), &inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{1}, ReadAfterGtid: "0-1"})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument {
		t.Fatalf("batch: %v", err)
	}
}
