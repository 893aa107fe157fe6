package grpcserver

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

func sampleBatch(products, linesEach int) domain.BatchResult {
	var res domain.BatchResult
	for p := range products {
		inv := domain.ProductInventory{ProductID: int64(p + 1)}
		for w := range linesEach {
			inv.Warehouses = append(inv.Warehouses, domain.WarehouseStock{WarehouseCode: string(rune('A' + w)), QtySalable: int32(p*10 + w)})
		}
		res.Found = append(res.Found, inv)
	}
	res.NotFound = []int64{9001, 9002}
	return res
}

func TestBatchToProto(t *testing.T) {
	res := domain.BatchResult{
		Found: []domain.ProductInventory{
			{ProductID: 5, Warehouses: []domain.WarehouseStock{{WarehouseCode: "X", QtySalable: 3}}},
			{ProductID: 2}, // no lines: must not shift the next product's lines
			{ProductID: 8, Warehouses: []domain.WarehouseStock{{WarehouseCode: "A", QtySalable: -1}, {WarehouseCode: "B", QtySalable: 0}}},
		},
		NotFound: []int64{4, 1},
	}
	want := &inventoryv1.BatchGetProductInventoryResponse{
		ProductInventories: []*inventoryv1.ProductInventory{
			{ProductId: 5, Warehouses: []*inventoryv1.WarehouseStock{{WarehouseCode: "X", QtySalable: 3}}},
			{ProductId: 2},
			{ProductId: 8, Warehouses: []*inventoryv1.WarehouseStock{{WarehouseCode: "A", QtySalable: -1}, {WarehouseCode: "B"}}},
		},
		NotFoundProductIds: []int64{4, 1},
	}
	if got := batchToProto(res); !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := batchToProto(domain.BatchResult{}); len(got.GetProductInventories()) != 0 || len(got.GetNotFoundProductIds()) != 0 {
		t.Fatalf("empty result converted to %v", got)
	}
}

// Products share one backing array; appending to one product's lines must
// not overwrite the next one's.
func TestBatchToProtoSlicesAreCapped(t *testing.T) {
	got := batchToProto(sampleBatch(2, 2))
	first := got.ProductInventories[0]
	first.Warehouses = append(first.Warehouses, &inventoryv1.WarehouseStock{WarehouseCode: "Z"})
	if code := got.ProductInventories[1].Warehouses[0].GetWarehouseCode(); code != "A" {
		t.Fatalf("second product's first line became %q after appending to the first product", code)
	}
}

// The answer costs a fixed number of allocations whatever its size.
func TestConversionAllocations(t *testing.T) {
	for _, size := range []struct{ products, lines int }{{1, 1}, {10, 3}, {1000, 5}} {
		res := sampleBatch(size.products, size.lines)
		allocs := testing.AllocsPerRun(20, func() { _ = batchToProto(res) })
		// response + products + product pointers + lines + line pointers
		if allocs > 5 {
			t.Errorf("batchToProto(%d products x %d lines) = %v allocs, want at most 5", size.products, size.lines, allocs)
		}
	}
	inv := sampleBatch(1, 4).Found[0]
	// message + lines + line pointers
	if allocs := testing.AllocsPerRun(20, func() { _ = inventoryToProto(inv) }); allocs > 3 {
		t.Errorf("inventoryToProto = %v allocs, want at most 3", allocs)
	}
}

func BenchmarkInventoryToProto(b *testing.B) {
	inv := sampleBatch(1, 4).Found[0]
	b.ReportAllocs()
	for b.Loop() {
		_ = inventoryToProto(inv)
	}
}

func BenchmarkBatchToProto(b *testing.B) {
	res := sampleBatch(100, 4)
	b.ReportAllocs()
	for b.Loop() {
		_ = batchToProto(res)
	}
}
