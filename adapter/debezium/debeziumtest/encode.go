// Package debeziumtest builds the Debezium messages of the two cached
// tables from domain rows, for tests of the consumers: the same encoder the
// relay writes with (debezium.RowCodec), fed the row images MySQL's binlog
// would carry for those rows.
package debeziumtest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

var (
	stockCodec     = mustCodec(&debezium.StockItems)
	warehouseCodec = mustCodec(&debezium.Warehouses)
)

func mustCodec(t *relay.Table) *debezium.RowCodec {
	c, err := debezium.NewRowCodec(t)
	if err != nil {
		panic(err) // the tables are constants
	}
	return c
}

// EncodeStock builds a stock_items change event; see RowCodec.EncodeEvent.
// updatedAtMicros is updated_at of every image; the envelope's ts_ms is
// src.TsMs. A version above 2^63-1 is a negative long, as in Debezium.
func EncodeStock(op domain.Op, before, after *domain.StockRow, src debezium.Source, withSchema bool, updatedAtMicros int64) ([]byte, error) {
	var images [2]relay.Row
	for i, r := range [...]*domain.StockRow{before, after} {
		if r == nil {
			continue
		}
		img, err := debezium.StockImage(r, updatedAtMicros)
		if err != nil {
			return nil, fmt.Errorf("encode stock_items event: %w", err)
		}
		images[i] = img
	}
	return stockCodec.EncodeEvent(op, images[0], images[1], src, time.UnixMilli(src.TsMs), withSchema)
}

// EncodeWarehouse builds a warehouses change event; see EncodeStock.
func EncodeWarehouse(op domain.Op, before, after *domain.Warehouse, src debezium.Source, withSchema bool, updatedAtMicros int64) ([]byte, error) {
	var images [2]relay.Row
	for i, r := range [...]*domain.Warehouse{before, after} {
		if r == nil {
			continue
		}
		if r.ID <= 0 {
			return nil, fmt.Errorf("encode warehouses event: id must be positive, got %d", r.ID)
		}
		active := []byte("0")
		if r.Active {
			active = []byte("1")
		}
		images[i] = relay.Row{itoa(r.ID), append([]byte{}, r.Code...), append([]byte{}, r.Name...), active,
			strconv.AppendUint(nil, r.Version, 10), datetime(updatedAtMicros)}
	}
	return warehouseCodec.EncodeEvent(op, images[0], images[1], src, time.UnixMilli(src.TsMs), withSchema)
}

// EncodeStockKey builds a stock_items message key, its schema named after
// src (Name.DB.Table.Key; unnamed for a zero Source).
func EncodeStockKey(src debezium.Source, productID, warehouseID int64, withSchema bool) ([]byte, error) {
	if productID <= 0 || warehouseID <= 0 {
		return nil, fmt.Errorf("encode stock_items key: ids must be positive, got product_id %d, warehouse_id %d", productID, warehouseID)
	}
	return stockCodec.EncodeKey(src, relay.Row{itoa(productID), itoa(warehouseID), nil, nil, nil}, withSchema)
}

// EncodeWarehouseKey builds a warehouses message key; see EncodeStockKey.
func EncodeWarehouseKey(src debezium.Source, id int64, withSchema bool) ([]byte, error) {
	if id <= 0 {
		return nil, fmt.Errorf("encode warehouses key: id must be positive, got %d", id)
	}
	return warehouseCodec.EncodeKey(src, relay.Row{itoa(id), nil, nil, nil, nil, nil}, withSchema)
}

func itoa(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

// datetime is MySQL's text of a DATETIME(6) at epoch micros.
func datetime(micros int64) []byte {
	return time.UnixMicro(micros).UTC().AppendFormat(nil, "2006-01-02 15:04:05.000000")
}
