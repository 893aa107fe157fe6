package httpapi

import (
	"strconv"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
	"github.com/gintoki/gintoki/domain"
)

// appendInventory appends
// {"product_id":N,"warehouses":[{"warehouse_code":"..","qty_salable":N},...]}
// keeping the reader's order; no warehouses is [] rather than null.
func appendInventory(dst []byte, productID int64, warehouses []domain.WarehouseStock) []byte {
	dst = append(dst, `{"product_id":`...)
	dst = strconv.AppendInt(dst, productID, 10)
	dst = append(dst, `,"warehouses":[`...)
	for i, w := range warehouses {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"warehouse_code":`...)
		dst = jsonstr.AppendHTMLSafe(dst, w.WarehouseCode)
		dst = append(dst, `,"qty_salable":`...)
		dst = strconv.AppendInt(dst, int64(w.QtySalable), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendBatch appends {"data":[...],"not_found":[...]}, both always arrays.
func appendBatch(dst []byte, res domain.BatchResult) []byte {
	dst = append(dst, `{"data":[`...)
	for i, inv := range res.Found {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendInventory(dst, inv.ProductID, inv.Warehouses)
	}
	dst = append(dst, `],"not_found":[`...)
	for i, id := range res.NotFound {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, "]}"...)
}
