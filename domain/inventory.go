// Package domain holds the inventory read model and the rules that do not
// depend on any storage, transport or framework.
package domain

import (
	"cmp"
	"slices"
	"time"
)

// MaxBatchSize bounds one batch read so a single request cannot turn into an
// unbounded IN (...) query.
const MaxBatchSize = 1000

// Warehouse is one row of the warehouses table.
type Warehouse struct {
	ID      int64
	Code    string
	Name    string
	Active  bool
	Version uint64
}

// StockRow is one row of the stock_items table.
type StockRow struct {
	ProductID   int64
	WarehouseID int64
	QtySalable  int32
	Version     uint64
}

// StockWithWarehouse is a stock row joined with its warehouse. HasWarehouse is
// false when the stock row points at a warehouse that does not exist.
type StockWithWarehouse struct {
	Stock        StockRow
	Warehouse    Warehouse
	HasWarehouse bool
}

// WarehouseStock is one line of the answer: how much can be sold from a
// warehouse.
type WarehouseStock struct {
	WarehouseCode string
	QtySalable    int32
}

// ProductInventory is the read model: the active warehouses stocking a
// product, ordered by warehouse code.
type ProductInventory struct {
	ProductID  int64
	Warehouses []WarehouseStock
	// StaleFor is zero for an answer the node stands behind. Otherwise the
	// answer is possibly stale: it came from the cache while neither the
	// change feed nor the database could confirm it (stale-if-error), and
	// StaleFor is how long the feed has been silent.
	StaleFor time.Duration
}

// BatchResult answers a batch read: the products found, in request order,
// and the ids that were not found.
type BatchResult struct {
	Found    []ProductInventory
	NotFound []int64
	// StaleFor is the largest StaleFor of the answers, found or not.
	StaleFor time.Duration
}

// ValidateProductID rejects ids that cannot name a product.
func ValidateProductID(id int64) error {
	if id <= 0 {
		return InvalidArgumentf("product_id must be a positive integer, got %d", id)
	}
	return nil
}

// ValidateBatch rejects empty, oversized or invalid batches.
func ValidateBatch(ids []int64) error {
	if len(ids) == 0 {
		return InvalidArgumentf("product_ids must not be empty")
	}
	if len(ids) > MaxBatchSize {
		return InvalidArgumentf("product_ids holds %d ids, at most %d are allowed", len(ids), MaxBatchSize)
	}
	for _, id := range ids {
		if err := ValidateProductID(id); err != nil {
			return err
		}
	}
	return nil
}

// NewProductInventory keeps the stock lines of active warehouses and orders
// them by code. It reports false when no active line remains: such a product
// is "not found".
func NewProductInventory(productID int64, lines []WarehouseStock) (ProductInventory, bool) {
	if len(lines) == 0 {
		return ProductInventory{}, false
	}
	slices.SortFunc(lines, func(a, b WarehouseStock) int { return cmp.Compare(a.WarehouseCode, b.WarehouseCode) })
	return ProductInventory{ProductID: productID, Warehouses: lines}, true
}

// InventoryFromJoined builds the read model from joined rows of one product.
func InventoryFromJoined(productID int64, rows []StockWithWarehouse) (ProductInventory, bool) {
	var lines []WarehouseStock
	for _, r := range rows {
		if r.Stock.ProductID != productID || !r.HasWarehouse || !r.Warehouse.Active {
			continue
		}
		lines = append(lines, WarehouseStock{WarehouseCode: r.Warehouse.Code, QtySalable: r.Stock.QtySalable})
	}
	return NewProductInventory(productID, lines)
}
