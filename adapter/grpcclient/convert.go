package grpcclient

import (
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// Like the server's converters, these size every slice up front: a batch
// answer costs one allocation for all its warehouse lines.

func inventoryFromProto(p *inventoryv1.ProductInventory) domain.ProductInventory {
	ws := p.GetWarehouses()
	return domain.ProductInventory{
		ProductID:  p.GetProductId(),
		Warehouses: warehousesFromProto(ws, make([]domain.WarehouseStock, len(ws))),
	}
}

func batchFromProto(resp *inventoryv1.BatchGetProductInventoryResponse) domain.BatchResult {
	found := resp.GetProductInventories()
	lines := 0
	for _, p := range found {
		lines += len(p.GetWarehouses())
	}
	store := make([]domain.WarehouseStock, lines)
	res := domain.BatchResult{
		Found: make([]domain.ProductInventory, len(found)),
		// The unmarshalled response is ours alone, so its ids are handed
		// over rather than copied.
		NotFound: resp.GetNotFoundProductIds(),
	}
	for i, p := range found {
		n := len(p.GetWarehouses())
		// Capped so that appending to one product's lines cannot overwrite
		// the next product's.
		res.Found[i] = domain.ProductInventory{
			ProductID:  p.GetProductId(),
			Warehouses: warehousesFromProto(p.GetWarehouses(), store[:n:n]),
		}
		store = store[n:]
	}
	return res
}

// warehousesFromProto fills dst (len(ws) long) and returns it, or nil when
// there is nothing to list.
func warehousesFromProto(ws []*inventoryv1.WarehouseStock, dst []domain.WarehouseStock) []domain.WarehouseStock {
	if len(ws) == 0 {
		return nil
	}
	for i, w := range ws {
		dst[i] = domain.WarehouseStock{WarehouseCode: w.GetWarehouseCode(), QtySalable: w.GetQtySalable()}
	}
	return dst
}
