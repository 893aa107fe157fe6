package grpcclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
)

// A node's stale marks cross gRPC (header metadata) and come back out of
// the client as the same StaleFor, rounded up to whole seconds, so the
// gateway marks its HTTP answers as the node marked them.
func TestStaleMarksCrossTheWire(t *testing.T) {
	inv := domain.ProductInventory{ProductID: 4, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A", QtySalable: 1}}}
	r := serve(t, &fakeReader{
		get: func(_ context.Context, id int64) (domain.ProductInventory, error) {
			if id == 5 {
				return domain.ProductInventory{}, domain.StaleNotFoundf(2500*time.Millisecond, "product 5 not found")
			}
			stale := inv
			stale.StaleFor = 2500 * time.Millisecond
			return stale, nil
		},
		batch: func(context.Context, []int64) (domain.BatchResult, error) {
			return domain.BatchResult{Found: []domain.ProductInventory{inv}, NotFound: []int64{5}, StaleFor: 61 * time.Second}, nil
		},
	}, grpcserver.Options{})

	got, err := r.GetProductInventory(t.Context(), 4)
	if err != nil || got.StaleFor != 3*time.Second {
		t.Fatalf("get: %+v %v, want stale for 3s", got, err)
	}
	if _, err := r.GetProductInventory(t.Context(), 5); !errors.Is(err, domain.ErrNotFound) || domain.StaleFor(err) != 3*time.Second {
		t.Fatalf("not found: %v (stale for %s), want a stale not-found", err, domain.StaleFor(err))
	}
	res, err := r.BatchGetProductInventory(t.Context(), []int64{4, 5})
	if err != nil || res.StaleFor != 61*time.Second {
		t.Fatalf("batch: %+v %v, want stale for 61s", res, err)
	}
}

// A fresh answer carries no marks.
func TestFreshAnswersAreNotMarked(t *testing.T) {
	r := serve(t, &fakeReader{get: func(context.Context, int64) (domain.ProductInventory, error) {
		return domain.ProductInventory{ProductID: 4, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A"}}}, nil
	}}, grpcserver.Options{})
	if got, err := r.GetProductInventory(t.Context(), 4); err != nil || got.StaleFor != 0 {
		t.Fatalf("%+v %v", got, err)
	}
}
