package grpcserver

import (
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// The converters allocate messages in arrays and hand out pointers into them,
// so an answer costs a fixed handful of allocations however many products
// and warehouses it holds. Messages are never copied, only addressed.

func inventoryToProto(inv domain.ProductInventory) *inventoryv1.ProductInventory {
	out := &inventoryv1.ProductInventory{ProductId: inv.ProductID}
	out.Warehouses = warehousesToProto(inv.Warehouses,
		make([]inventoryv1.WarehouseStock, len(inv.Warehouses)),
		make([]*inventoryv1.WarehouseStock, len(inv.Warehouses)))
	return out
}

func batchToProto(res domain.BatchResult) *inventoryv1.BatchGetProductInventoryResponse {
	lines := 0
	for i := range res.Found {
		lines += len(res.Found[i].Warehouses)
	}
	stocks := make([]inventoryv1.WarehouseStock, lines)
	stockPtrs := make([]*inventoryv1.WarehouseStock, lines)
	products := make([]inventoryv1.ProductInventory, len(res.Found))
	productPtrs := make([]*inventoryv1.ProductInventory, len(res.Found))

	for i := range res.Found {
		inv := &res.Found[i]
		n := len(inv.Warehouses)
		p := &products[i]
		p.ProductId = inv.ProductID
		// Full slice expressions cap each product's share so an append by a
		// later user of the message cannot spill into the next product.
		p.Warehouses = warehousesToProto(inv.Warehouses, stocks[:n:n], stockPtrs[:n:n])
		stocks, stockPtrs = stocks[n:], stockPtrs[n:]
		productPtrs[i] = p
	}

	// NotFound is shared, not copied: the message only lives until it is
	// marshalled, and the reader hands the result over.
	return &inventoryv1.BatchGetProductInventoryResponse{
		ProductInventories: productPtrs,
		NotFoundProductIds: res.NotFound,
	}
}

// warehousesToProto fills store and ptrs (both len(lines) long) and returns
// ptrs, or nil when there is nothing to list.
func warehousesToProto(lines []domain.WarehouseStock, store []inventoryv1.WarehouseStock, ptrs []*inventoryv1.WarehouseStock) []*inventoryv1.WarehouseStock {
	if len(lines) == 0 {
		return nil
	}
	for i, l := range lines {
		store[i].WarehouseCode = l.WarehouseCode
		store[i].QtySalable = l.QtySalable
		ptrs[i] = &store[i]
	}
	return ptrs
}
