package debezium

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/gintoki/gintoki/domain"
)

// Source is the source block of an encoded event: where the change happened.
// Empty Connector means "mysql", empty Snapshot "false"; empty Table and GTID
// and a zero Thread are written as null, as Debezium does for snapshot rows.
type Source struct {
	Version, Connector, Name, DB, Table string
	ServerID                            int64
	File                                string
	Pos                                 int64
	Row                                 int
	TsMs                                int64
	Snapshot                            string
	GTID                                string
	Thread                              int64
}

// maxTsMs keeps ts_ns (= ts_ms * 10^6) inside an int64.
const maxTsMs = math.MaxInt64 / 1_000_000

// EncodeStock builds a stock_items change event the way Debezium's MySQL
// connector writes it with the JsonConverter: with withSchema the
// {"schema","payload"} wrapper (schemas.enable=true), else the bare envelope.
// before and after follow the op: c and r take only after, u takes after and
// optionally before, d takes only before, t takes neither. updatedAtMicros is
// written as updated_at of every image; the envelope's ts_ms is src.TsMs.
// A version above 2^63-1 is written as a negative long, as Debezium's default
// bigint.unsigned.handling.mode=long does.
func EncodeStock(op domain.Op, before, after *domain.StockRow, src Source, withSchema bool, updatedAtMicros int64) ([]byte, error) {
	if err := checkImages(op, before != nil, after != nil); err != nil {
		return nil, fmt.Errorf("encode stock_items event: %w", err)
	}
	var b, a []byte
	for _, img := range [...]struct {
		row *domain.StockRow
		dst *[]byte
	}{{before, &b}, {after, &a}} {
		if img.row == nil {
			continue
		}
		if img.row.ProductID <= 0 || img.row.WarehouseID <= 0 {
			return nil, fmt.Errorf("encode stock_items event: ids must be positive, got product_id %d, warehouse_id %d",
				img.row.ProductID, img.row.WarehouseID)
		}
		*img.dst = appendStockRow(make([]byte, 0, 128), img.row, updatedAtMicros)
	}
	out, err := encodeEnvelope(op, b, a, src, withSchema, stockTable)
	if err != nil {
		return nil, fmt.Errorf("encode stock_items event: %w", err)
	}
	return out, nil
}

// EncodeWarehouse builds a warehouses change event; see EncodeStock.
// is_active is written as TINYINT(1) is, an int8 0 or 1.
func EncodeWarehouse(op domain.Op, before, after *domain.Warehouse, src Source, withSchema bool, updatedAtMicros int64) ([]byte, error) {
	if err := checkImages(op, before != nil, after != nil); err != nil {
		return nil, fmt.Errorf("encode warehouses event: %w", err)
	}
	var b, a []byte
	for _, img := range [...]struct {
		row *domain.Warehouse
		dst *[]byte
	}{{before, &b}, {after, &a}} {
		if img.row == nil {
			continue
		}
		if img.row.ID <= 0 {
			return nil, fmt.Errorf("encode warehouses event: id must be positive, got %d", img.row.ID)
		}
		*img.dst = appendWarehouseRow(make([]byte, 0, 128), img.row, updatedAtMicros)
	}
	out, err := encodeEnvelope(op, b, a, src, withSchema, warehouseTable)
	if err != nil {
		return nil, fmt.Errorf("encode warehouses event: %w", err)
	}
	return out, nil
}

// EncodeStockKey builds a stock_items message key (the primary key columns).
// Its schema, when asked for, carries no name: use EncodeStockKeyFor to name
// it "<name>.<db>.<table>.Key" as Debezium does.
func EncodeStockKey(productID, warehouseID int64, withSchema bool) ([]byte, error) {
	return EncodeStockKeyFor(Source{}, productID, warehouseID, withSchema)
}

// EncodeStockKeyFor is EncodeStockKey with the key schema named after src.
func EncodeStockKeyFor(src Source, productID, warehouseID int64, withSchema bool) ([]byte, error) {
	if productID <= 0 || warehouseID <= 0 {
		return nil, fmt.Errorf("encode stock_items key: ids must be positive, got product_id %d, warehouse_id %d", productID, warehouseID)
	}
	b := make([]byte, 0, 64)
	if withSchema {
		b = append(b, `{"schema":`...)
		b = appendStructSchema(b, stockTable.columns[:2], false, schemaName(src, stockTable, "Key"), "")
		b = append(b, `,"payload":`...)
	}
	b = append(b, `{"product_id":`...)
	b = strconv.AppendInt(b, productID, 10)
	b = append(b, `,"warehouse_id":`...)
	b = strconv.AppendInt(b, warehouseID, 10)
	b = append(b, '}')
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

// EncodeWarehouseKey builds a warehouses message key; see EncodeStockKey.
func EncodeWarehouseKey(id int64, withSchema bool) ([]byte, error) {
	return EncodeWarehouseKeyFor(Source{}, id, withSchema)
}

// EncodeWarehouseKeyFor is EncodeWarehouseKey with the key schema named after src.
func EncodeWarehouseKeyFor(src Source, id int64, withSchema bool) ([]byte, error) {
	if id <= 0 {
		return nil, fmt.Errorf("encode warehouses key: id must be positive, got %d", id)
	}
	b := make([]byte, 0, 48)
	if withSchema {
		b = append(b, `{"schema":`...)
		b = appendStructSchema(b, warehouseTable.columns[:1], false, schemaName(src, warehouseTable, "Key"), "")
		b = append(b, `,"payload":`...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '}')
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

// checkImages enforces which row images an operation carries, so a simulator
// bug shows up here rather than as an event Debezium would never write.
func checkImages(op domain.Op, hasBefore, hasAfter bool) error {
	switch op {
	case domain.OpCreate, domain.OpRead:
		if hasBefore || !hasAfter {
			return fmt.Errorf("op %q takes an after-image only", string(rune(op)))
		}
	case domain.OpUpdate:
		if !hasAfter {
			return errors.New(`op "u" needs an after-image`)
		}
	case domain.OpDelete:
		if !hasBefore || hasAfter {
			return errors.New(`op "d" takes a before-image only`)
		}
	case domain.OpTruncate:
		if hasBefore || hasAfter {
			return errors.New(`op "t" carries no row`)
		}
	default:
		return fmt.Errorf("unknown op %q", string(rune(op)))
	}
	return nil
}

func appendStockRow(b []byte, r *domain.StockRow, updatedAtMicros int64) []byte {
	b = append(b, `{"product_id":`...)
	b = strconv.AppendInt(b, r.ProductID, 10)
	b = append(b, `,"warehouse_id":`...)
	b = strconv.AppendInt(b, r.WarehouseID, 10)
	b = append(b, `,"qty_salable":`...)
	b = strconv.AppendInt(b, int64(r.QtySalable), 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, updatedAtMicros, 10)
	return append(b, '}')
}

func appendWarehouseRow(b []byte, r *domain.Warehouse, updatedAtMicros int64) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"code":`...)
	b = appendQuoted(b, r.Code)
	b = append(b, `,"name":`...)
	b = appendQuoted(b, r.Name)
	b = append(b, `,"is_active":`...)
	if r.Active {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, updatedAtMicros, 10)
	return append(b, '}')
}

// encodeEnvelope writes the envelope (and its wrapper) around row images
// already encoded; a nil image is written as null.
func encodeEnvelope(op domain.Op, before, after []byte, src Source, withSchema bool, t table) ([]byte, error) {
	if src.TsMs < 0 || src.TsMs > maxTsMs {
		return nil, fmt.Errorf("source ts_ms %d out of range", src.TsMs)
	}
	b := make([]byte, 0, 512+len(before)+len(after)+len(src.File)+len(src.Name)+len(src.DB)+len(src.Table))
	if withSchema {
		b = append(b, `{"schema":`...)
		b = appendEnvelopeSchema(b, src, t)
		b = append(b, `,"payload":`...)
	}
	b = append(b, `{"before":`...)
	b = appendRaw(b, before)
	b = append(b, `,"after":`...)
	b = appendRaw(b, after)
	b = append(b, `,"source":`...)
	b = appendSource(b, src)
	b = append(b, `,"op":"`...)
	b = append(b, byte(op))
	b = append(b, '"')
	b = appendTimestamps(b, src.TsMs)
	b = append(b, `,"transaction":null}`...)
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

func appendRaw(b, raw []byte) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendTimestamps writes ts_ms and the finer ts_us/ts_ns Debezium 2.6+ adds.
func appendTimestamps(b []byte, tsMs int64) []byte {
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, tsMs, 10)
	b = append(b, `,"ts_us":`...)
	b = strconv.AppendInt(b, tsMs*1_000, 10)
	b = append(b, `,"ts_ns":`...)
	return strconv.AppendInt(b, tsMs*1_000_000, 10)
}

func appendSource(b []byte, src Source) []byte {
	connector := src.Connector
	if connector == "" {
		connector = "mysql"
	}
	snapshot := src.Snapshot
	if snapshot == "" {
		snapshot = "false"
	}
	b = append(b, `{"version":`...)
	b = appendQuoted(b, src.Version)
	b = append(b, `,"connector":`...)
	b = appendQuoted(b, connector)
	b = append(b, `,"name":`...)
	b = appendQuoted(b, src.Name)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, src.TsMs, 10)
	b = append(b, `,"snapshot":`...)
	b = appendQuoted(b, snapshot)
	b = append(b, `,"db":`...)
	b = appendQuoted(b, src.DB)
	b = append(b, `,"sequence":null,"ts_us":`...)
	b = strconv.AppendInt(b, src.TsMs*1_000, 10)
	b = append(b, `,"ts_ns":`...)
	b = strconv.AppendInt(b, src.TsMs*1_000_000, 10)
	b = append(b, `,"table":`...)
	b = appendOptionalQuoted(b, src.Table)
	b = append(b, `,"server_id":`...)
	b = strconv.AppendInt(b, src.ServerID, 10)
	b = append(b, `,"gtid":`...)
	b = appendOptionalQuoted(b, src.GTID)
	b = append(b, `,"file":`...)
	b = appendQuoted(b, src.File)
	b = append(b, `,"pos":`...)
	b = strconv.AppendInt(b, src.Pos, 10)
	b = append(b, `,"row":`...)
	b = strconv.AppendInt(b, int64(src.Row), 10)
	b = append(b, `,"thread":`...)
	if src.Thread == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, src.Thread, 10)
	}
	return append(b, `,"query":null}`...)
}

func appendOptionalQuoted(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendQuoted(b, s)
}

// appendQuoted writes s as a JSON string. Invalid UTF-8 becomes U+FFFD so the
// output is always valid JSON text.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
