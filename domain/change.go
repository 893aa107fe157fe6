package domain

// Op is the kind of a row change, as Debezium names it.
type Op byte

// The operations of a change event.
const (
	OpCreate   Op = 'c'
	OpUpdate   Op = 'u'
	OpDelete   Op = 'd'
	OpRead     Op = 'r' // snapshot read: the row as it is, treated like an upsert
	OpTruncate Op = 't'
)

// Valid reports whether o is one of the known operations.
func (o Op) Valid() bool {
	switch o {
	case OpCreate, OpUpdate, OpDelete, OpRead, OpTruncate:
		return true
	}
	return false
}

func (o Op) String() string {
	if !o.Valid() {
		return "unknown"
	}
	return string(rune(o))
}

// StockChange is one change of a stock_items row. For a delete Row is the
// row as it was (the before-image); otherwise it is the row as it is now.
// A truncate carries no row.
type StockChange struct {
	Op         Op
	Row        StockRow
	SourceTsMs int64 // when the change happened in the database, 0 if unknown
}

// WarehouseChange is one change of a warehouses row, shaped like StockChange.
type WarehouseChange struct {
	Op         Op
	Row        Warehouse
	SourceTsMs int64
}
