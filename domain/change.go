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
// row as it was (the before-image, so its Version is the one the row already
// had: a DELETE changes no column); otherwise it is the row as it is now.
// A truncate carries no row.
type StockChange struct {
	Op         Op
	Row        StockRow
	SourceTsMs int64 // when the change happened in the database, 0 if unknown
	// ByKey marks a delete known only by the row's key (a null-value record
	// of a flattened stream that carries deletes no other way): Row holds
	// the key columns and no version. It deletes the version of the row's
	// change just before it in the feed.
	ByKey bool
	// Position orders the changes of one row as the feed delivers them (the
	// Kafka offset in the row's partition, plus one); 0 when unknown. It
	// tells a replayed record from a new one, which a ByKey delete, having
	// no version, needs.
	Position int64
	// GTID is the transaction of the change (source.gtid); unknown for
	// snapshot reads and servers without GTIDs. It orders the change against
	// what a database read had applied (see SourcePos).
	GTID GTID
	// Sub is the change's place within its transaction (SubOf its binlog
	// position and row): binlog order tells two changes of one row in one
	// transaction apart by it.
	Sub uint64
}

// WarehouseChange is one change of a warehouses row, shaped like StockChange.
type WarehouseChange struct {
	Op         Op
	Row        Warehouse
	SourceTsMs int64
	ByKey      bool
	Position   int64
	GTID       GTID
	Sub        uint64
}
