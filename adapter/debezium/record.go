package debezium

import (
	"errors"

	"github.com/gintoki/gintoki/domain"
)

// Meta describes how a record arrived, so the consumer can tell what the
// source is configured to send.
type Meta struct {
	// Form is the value's form; 0 for a null value.
	Form Form
	// NullValue: the record had no value. With a key it is a delete of that
	// key (see DecodeStockRecord).
	NullValue bool
	// DeletedField: a flattened row carried __deleted, i.e. the transform
	// rewrites deletes into rows rather than dropping them.
	DeletedField bool
}

// DecodeStockRecord decodes a whole stock_items record, key and value.
//
// A null value is a delete of the row its key names. Debezium writes one
// after every delete event (a no-op here: the delete came first), and a
// flattened stream with ExtractNewRecordState's
// delete.tombstone.handling.mode=tombstone (or the older
// delete.handling.mode=none) carries deletes as nothing else, so the null
// value is the only delete signal. It carries no version: the change is
// marked ByKey and deletes the newest version known of the row. A null value
// whose key cannot be read is malformed.
func DecodeStockRecord(key, value []byte) (domain.StockChange, Meta, error) {
	var env rawEnvelope
	change, err := decodeStock(value, &env)
	if errors.Is(err, ErrTombstone) {
		productID, warehouseID, kerr := DecodeStockKey(key)
		if kerr != nil {
			return domain.StockChange{}, Meta{NullValue: true}, kerr
		}
		return domain.StockChange{
			Op:    domain.OpDelete,
			Row:   domain.StockRow{ProductID: productID, WarehouseID: warehouseID},
			ByKey: true,
		}, Meta{NullValue: true}, nil
	}
	return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
}

// DecodeWarehouseRecord decodes a whole warehouses record; see
// DecodeStockRecord.
func DecodeWarehouseRecord(key, value []byte) (domain.WarehouseChange, Meta, error) {
	var env rawEnvelope
	change, err := decodeWarehouse(value, &env)
	if errors.Is(err, ErrTombstone) {
		id, kerr := DecodeWarehouseKey(key)
		if kerr != nil {
			return domain.WarehouseChange{}, Meta{NullValue: true}, kerr
		}
		return domain.WarehouseChange{
			Op:    domain.OpDelete,
			Row:   domain.Warehouse{ID: id},
			ByKey: true,
		}, Meta{NullValue: true}, nil
	}
	return change, Meta{Form: env.form, DeletedField: env.deletedField}, err
}
