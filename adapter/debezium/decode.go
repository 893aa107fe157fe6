package debezium

import (
	"errors"

	"github.com/gintoki/gintoki/adapter/internal/jsonwalk"
	"github.com/gintoki/gintoki/domain"
)

// readRow reads a message into e, and the row image of table t, if any,
// into img.
func (m *message) readRow(value []byte, t *table, img *image) (name string, err error) {
	if err := m.parse(value, t.event); err != nil || m.op == domain.OpTruncate {
		return "", err
	}
	v, name := m.image()
	r := reader{cols: &t.cols, img: img}
	return name, decodeErr(t.event, name, jsonwalk.Fields(v, r.member))
}

// DecodeStock decodes a stock_items message value in any Form: the row of a
// delete is its before-image, of c, u and r the after-image, a truncate has
// none. It returns ErrTombstone for a null value, ErrNotRowEvent for non-row
// messages, an error wrapping ErrMalformed for what it cannot use.
func DecodeStock(value []byte) (domain.StockChange, error) { return defaultDecoder.Stock(value) }

// Stock decodes a message value of the mapped stock table; see DecodeStock.
func (d *Decoder) Stock(value []byte) (domain.StockChange, error) {
	return d.decodeStock(value, new(message))
}

func (d *Decoder) decodeStock(value []byte, env *message) (domain.StockChange, error) {
	t := &d.stock
	var img image
	name, err := env.readRow(value, t, &img)
	c := domain.StockChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if err == nil && env.op != domain.OpTruncate {
		var column string
		if c.Row, column, err = t.stockRow(&img, env.op); err != nil {
			err = fieldError(t.event, name, column, err)
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
	return defaultDecoder.Warehouse(value)
}

// Warehouse decodes a message value of the mapped warehouses table; see
// DecodeStock. Without a warehouses table in the mapping every value is
// malformed: no table of the mapping can be its.
func (d *Decoder) Warehouse(value []byte) (domain.WarehouseChange, error) {
	return d.decodeWarehouse(value, new(message))
}

func (d *Decoder) decodeWarehouse(value []byte, env *message) (domain.WarehouseChange, error) {
	t := &d.warehouses
	if !d.hasWarehouses {
		return domain.WarehouseChange{}, errNoWarehouses(t.event)
	}
	var img image
	name, err := env.readRow(value, t, &img)
	c := domain.WarehouseChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if err == nil && env.op != domain.OpTruncate {
		var column string
		if c.Row, column, err = t.warehouseRow(&img, env.op); err != nil {
			err = fieldError(t.event, name, column, err)
		}
	}
	if err != nil {
		return domain.WarehouseChange{}, err
	}
	c.GTID, c.Sub = env.src.position()
	return c, nil
}

func errNoWarehouses(subject string) error {
	return malformed(subject, "", "the schema mapping has no warehouses table")
}

// DecodeStockKey decodes a stock_items message key, with or without the
// schema/payload wrapper.
func DecodeStockKey(key []byte) (productID, warehouseID int64, err error) {
	return defaultDecoder.StockKey(key)
}

// StockKey decodes a message key of the mapped stock table: its product and
// warehouse columns; see DecodeStockKey.
func (d *Decoder) StockKey(key []byte) (productID, warehouseID int64, err error) {
	t := &d.stock
	img, err := decodeKey(key, t)
	if err != nil {
		return 0, 0, err
	}
	if productID, err = img.product.id(); err != nil {
		return 0, 0, fieldError(t.key, "", t.product, err)
	}
	if warehouseID, err = img.warehouse.id(); err != nil {
		return 0, 0, fieldError(t.key, "", t.warehouse, err)
	}
	return productID, warehouseID, nil
}

// DecodeWarehouseKey decodes a warehouses message key; see DecodeStockKey.
func DecodeWarehouseKey(key []byte) (id int64, err error) { return defaultDecoder.WarehouseKey(key) }

// WarehouseKey decodes a message key of the mapped warehouses table: its id
// column; see DecodeStockKey.
func (d *Decoder) WarehouseKey(key []byte) (id int64, err error) {
	t := &d.warehouses
	if !d.hasWarehouses {
		return 0, errNoWarehouses(t.key)
	}
	img, err := decodeKey(key, t)
	if err == nil {
		if id, err = img.id.id(); err != nil {
			return 0, fieldError(t.key, "", t.id, err)
		}
	}
	return id, err
}

// decodeKey reads a key of table t: the payload of a schema/payload
// wrapper, or itself.
func decodeKey(key []byte, t *table) (img image, err error) {
	var m message
	obj, err := readObject(key, t.key, "key", &m)
	switch {
	case err == errNull && m.wrapped:
		return img, malformed(t.key, "payload", "key is null")
	case err == errNull:
		return img, malformed(t.key, "", "key is null")
	case err != nil:
		return img, err
	}
	r := reader{cols: &t.keys, img: &img}
	err = decodeErr(t.key, "", jsonwalk.Fields(obj, r.member))
	return img, err
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
	return defaultDecoder.StockRecord(key, value)
}

// StockRecord decodes a whole record of the mapped stock table; see
// DecodeStockRecord.
func (d *Decoder) StockRecord(key, value []byte) (domain.StockChange, Meta, error) {
	var env message
	change, err := d.decodeStock(value, &env)
	if !errors.Is(err, ErrTombstone) {
		return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
	}
	productID, warehouseID, err := d.StockKey(key)
	if err != nil {
		return domain.StockChange{}, Meta{NullValue: true}, err
	}
	row := domain.StockRow{ProductID: productID, WarehouseID: warehouseID}
	return domain.StockChange{Op: domain.OpDelete, Row: row, ByKey: true}, Meta{NullValue: true}, nil
}

// DecodeWarehouseRecord decodes a whole warehouses record; see DecodeStockRecord.
func DecodeWarehouseRecord(key, value []byte) (domain.WarehouseChange, Meta, error) {
	return defaultDecoder.WarehouseRecord(key, value)
}

// WarehouseRecord decodes a whole record of the mapped warehouses table; see
// DecodeStockRecord.
func (d *Decoder) WarehouseRecord(key, value []byte) (domain.WarehouseChange, Meta, error) {
	var env message
	change, err := d.decodeWarehouse(value, &env)
	if !errors.Is(err, ErrTombstone) {
		return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
	}
	id, err := d.WarehouseKey(key)
	if err != nil {
		return domain.WarehouseChange{}, Meta{NullValue: true}, err
	}
	return domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: id}, ByKey: true}, Meta{NullValue: true}, nil
}
