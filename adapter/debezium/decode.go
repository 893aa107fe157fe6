package debezium

import (
	"errors"
	"math"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
	"github.com/gintoki/gintoki/domain"
)

// image is a row image of either table Gintoki caches (DESIGN §1); a column
// of the other table in it only has to be of its type.
type image struct {
	productID, warehouseID, qty, id        integer
	code, name                             string
	version                                uint64
	hasCode, active, hasActive, hasVersion bool
}

func (img *image) member(name, v []byte) (err error) {
	switch string(name) {
	case "product_id":
		return intField("product_id", v, &img.productID)
	case "warehouse_id":
		return intField("warehouse_id", v, &img.warehouseID)
	case "qty_salable":
		return intField("qty_salable", v, &img.qty)
	case "id":
		return intField("id", v, &img.id)
	case "version":
		return versionField(v, &img.version, &img.hasVersion)
	case "updated_at":
		return timestampField("updated_at", v)
	case "code":
		img.code, err = textField("code", v, false)
		img.hasCode = err == nil
	case "name":
		img.name, err = textField("name", v, true)
	case "is_active":
		img.active, err = parseBoolish(v)
		img.hasActive, err = err == nil, named("is_active", err)
	}
	return err
}

// stockRow maps a stock_items image to the domain, or names the bad column.
// qty_salable may be missing only in a delete: a cached row patched without
// it would serve 0.
func (img *image) stockRow(op domain.Op) (row domain.StockRow, column string, err error) {
	if row.ProductID, err = img.productID.id(); err != nil {
		return row, "product_id", err
	}
	if row.WarehouseID, err = img.warehouseID.id(); err != nil {
		return row, "warehouse_id", err
	}
	switch qty := img.qty; {
	case !img.hasVersion:
		return row, "version", probMissing
	case qty.n < math.MinInt32 || qty.n > math.MaxInt32:
		return row, "qty_salable", probRange
	case op == domain.OpDelete:
	case qty.null:
		return row, "qty_salable", probNull
	case !qty.set:
		return row, "qty_salable", probMissing
	}
	row.QtySalable, row.Version = int32(img.qty.n), img.version
	return row, "", nil
}

// warehouse maps a warehouses image to the domain. A delete's image only
// has to say which row (id) and which version went away.
func (img *image) warehouse(op domain.Op) (row domain.Warehouse, column string, err error) {
	if row.ID, err = img.id.id(); err != nil {
		return row, "id", err
	}
	switch {
	case !img.hasVersion:
		return row, "version", probMissing
	case op == domain.OpDelete:
	case !img.hasCode:
		return row, "code", probMissing
	case !img.hasActive:
		return row, "is_active", probMissing
	}
	row.Code, row.Name, row.Active, row.Version = img.code, img.name, img.active, img.version
	return row, "", nil
}

// readRow reads a message into e, and its row image, if any.
func (e *message) readRow(value []byte, subject string) (img image, name string, err error) {
	if err := e.parse(value, subject); err != nil || e.op == domain.OpTruncate {
		return img, "", err
	}
	v, name := e.image()
	return img, name, decodeErr(subject, name, jsonwalk.Fields(v, img.member))
}

// DecodeStock decodes a stock_items message value in any Form: the row of a
// delete is its before-image, of c, u and r the after-image, a truncate has
// none. It returns ErrTombstone for a null value, ErrNotRowEvent for non-row
// messages, an error wrapping ErrMalformed for what it cannot use.
func DecodeStock(value []byte) (domain.StockChange, error) { return decodeStock(value, new(message)) }

func decodeStock(value []byte, env *message) (domain.StockChange, error) {
	img, name, err := env.readRow(value, "stock_items event")
	c := domain.StockChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if err == nil && env.op != domain.OpTruncate {
		var column string
		if c.Row, column, err = img.stockRow(env.op); err != nil {
			err = fieldError("stock_items event", name, column, err)
		}
	}
	if err != nil {
		return domain.StockChange{}, err
	}
	c.GTID, c.Sub = env.src.position()
	return c, nil
}

// DecodeWarehouse decodes a warehouses message value; see DecodeStock.
func DecodeWarehouse(value []byte) (domain.WarehouseChange, error) {
	return decodeWarehouse(value, new(message))
}

func decodeWarehouse(value []byte, env *message) (domain.WarehouseChange, error) {
	img, name, err := env.readRow(value, "warehouses event")
	c := domain.WarehouseChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if err == nil && env.op != domain.OpTruncate {
		var column string
		if c.Row, column, err = img.warehouse(env.op); err != nil {
			err = fieldError("warehouses event", name, column, err)
		}
	}
	if err != nil {
		return domain.WarehouseChange{}, err
	}
	c.GTID, c.Sub = env.src.position()
	return c, nil
}

// DecodeStockKey decodes a stock_items message key, with or without the
// schema/payload wrapper.
func DecodeStockKey(key []byte) (productID, warehouseID int64, err error) {
	img, err := decodeKey(key, "stock_items key")
	if err != nil {
		return 0, 0, err
	}
	if productID, err = img.productID.id(); err != nil {
		return 0, 0, fieldError("stock_items key", "", "product_id", err)
	}
	if warehouseID, err = img.warehouseID.id(); err != nil {
		return 0, 0, fieldError("stock_items key", "", "warehouse_id", err)
	}
	return productID, warehouseID, nil
}

// DecodeWarehouseKey decodes a warehouses message key; see DecodeStockKey.
func DecodeWarehouseKey(key []byte) (id int64, err error) {
	img, err := decodeKey(key, "warehouses key")
	if err == nil {
		if id, err = img.id.id(); err != nil {
			return 0, fieldError("warehouses key", "", "id", err)
		}
	}
	return id, err
}

// decodeKey reads a key: the payload of a schema/payload wrapper, or itself.
func decodeKey(key []byte, subject string) (img image, err error) {
	var m message
	obj, err := readObject(key, subject, "key", &m)
	switch {
	case err == errNull && m.wrapped:
		return img, malformed(subject, "payload", "key is null")
	case err == errNull:
		return img, malformed(subject, "", "key is null")
	case err != nil:
		return img, err
	}
	return img, decodeErr(subject, "", jsonwalk.Fields(obj, img.member))
}

// Meta describes how a record arrived, so the consumer can tell what the
// source is configured to send.
type Meta struct {
	Form      Form // 0 for a null value
	NullValue bool // the record had no value: a delete of its key (see DecodeStockRecord)
	// DeletedField: a flattened row carried __deleted, i.e. the transform
	// rewrites deletes into rows rather than dropping them.
	DeletedField bool
}

// DecodeStockRecord decodes a whole stock_items record, key and value.
//
// A null value is a delete of the row its key names: after a delete event
// it changes nothing, and a flattened stream with ExtractNewRecordState's
// delete.tombstone.handling.mode=tombstone (delete.handling.mode=none before
// 2.5) has no other delete signal. It carries no version: the change is
// marked ByKey and deletes the newest version known of the row.
func DecodeStockRecord(key, value []byte) (domain.StockChange, Meta, error) {
	var env message
	change, err := decodeStock(value, &env)
	if !errors.Is(err, ErrTombstone) {
		return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
	}
	productID, warehouseID, err := DecodeStockKey(key)
	if err != nil {
		return domain.StockChange{}, Meta{NullValue: true}, err
	}
	row := domain.StockRow{ProductID: productID, WarehouseID: warehouseID}
	return domain.StockChange{Op: domain.OpDelete, Row: row, ByKey: true}, Meta{NullValue: true}, nil
}

// DecodeWarehouseRecord decodes a whole warehouses record; see DecodeStockRecord.
func DecodeWarehouseRecord(key, value []byte) (domain.WarehouseChange, Meta, error) {
	var env message
	change, err := decodeWarehouse(value, &env)
	if !errors.Is(err, ErrTombstone) {
		return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
	}
	id, err := DecodeWarehouseKey(key)
	if err != nil {
		return domain.WarehouseChange{}, Meta{NullValue: true}, err
	}
	return domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: id}, ByKey: true}, Meta{NullValue: true}, nil
}
