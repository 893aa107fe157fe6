package debezium

import (
	"math"

	"github.com/gintoki/gintoki/domain"
)

// DecodeStock decodes a stock_items message value in any of the forms (see
// Form). For a delete the row is the before-image (or the flattened row); for
// c, u and r the after-image; a truncate has no row. It returns ErrTombstone
// for a null value, ErrNotRowEvent for non-row messages, and an error wrapping
// ErrMalformed for anything else it cannot use.
func DecodeStock(value []byte) (domain.StockChange, error) {
	var env rawEnvelope
	return decodeStock(value, &env)
}

func decodeStock(value []byte, env *rawEnvelope) (domain.StockChange, error) {
	const subject = "stock_items event"
	if err := env.parse(value, subject); err != nil {
		return domain.StockChange{}, err
	}
	change := domain.StockChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if env.op == domain.OpTruncate {
		return change, nil
	}
	if present(env.src.gtid) {
		change.GTID, _ = domain.ParseGTID(spanString(env.src.gtid))
	}
	img, name := env.image()
	row, field, err := decodeStockRow(img, env.op)
	if err != nil {
		return domain.StockChange{}, fieldError(subject, name, field, err)
	}
	change.Row = row
	return change, nil
}

// DecodeWarehouse decodes a warehouses message value; see DecodeStock.
func DecodeWarehouse(value []byte) (domain.WarehouseChange, error) {
	var env rawEnvelope
	return decodeWarehouse(value, &env)
}

func decodeWarehouse(value []byte, env *rawEnvelope) (domain.WarehouseChange, error) {
	const subject = "warehouses event"
	if err := env.parse(value, subject); err != nil {
		return domain.WarehouseChange{}, err
	}
	change := domain.WarehouseChange{Op: env.op, SourceTsMs: env.sourceTsMs}
	if env.op == domain.OpTruncate {
		return change, nil
	}
	img, name := env.image()
	row, field, err := decodeWarehouseRow(img, env.op)
	if err != nil {
		return domain.WarehouseChange{}, fieldError(subject, name, field, err)
	}
	change.Row = row
	return change, nil
}

// DecodeStockKey decodes a stock_items message key, with or without the
// schema/payload wrapper. The consumer uses it to invalidate the row whose
// value could not be decoded.
func DecodeStockKey(key []byte) (productID, warehouseID int64, err error) {
	const subject = "stock_items key"
	obj, err := keyStruct(key, subject)
	if err != nil {
		return 0, 0, err
	}
	s := scanner{buf: obj}
	if err := s.openObject(); err != nil {
		return 0, 0, malformed(subject, "", err.Error())
	}
	first := true
	for {
		k, ok, err := s.nextKey(&first)
		if err != nil {
			return 0, 0, malformed(subject, "", err.Error())
		}
		if !ok {
			break
		}
		switch string(k) {
		case colProductID:
			if productID, err = s.positiveInt(); err != nil {
				return 0, 0, fieldError(subject, "", colProductID, err)
			}
		case colWarehouseID:
			if warehouseID, err = s.positiveInt(); err != nil {
				return 0, 0, fieldError(subject, "", colWarehouseID, err)
			}
		default:
			if err := s.skipValue(1); err != nil {
				return 0, 0, malformed(subject, "", err.Error())
			}
		}
	}
	if productID == 0 {
		return 0, 0, fieldError(subject, "", colProductID, probMissing)
	}
	if warehouseID == 0 {
		return 0, 0, fieldError(subject, "", colWarehouseID, probMissing)
	}
	return productID, warehouseID, nil
}

// DecodeWarehouseKey decodes a warehouses message key; see DecodeStockKey.
func DecodeWarehouseKey(key []byte) (id int64, err error) {
	const subject = "warehouses key"
	obj, err := keyStruct(key, subject)
	if err != nil {
		return 0, err
	}
	s := scanner{buf: obj}
	if err := s.openObject(); err != nil {
		return 0, malformed(subject, "", err.Error())
	}
	first := true
	for {
		k, ok, err := s.nextKey(&first)
		if err != nil {
			return 0, malformed(subject, "", err.Error())
		}
		if !ok {
			break
		}
		if string(k) != colID {
			if err := s.skipValue(1); err != nil {
				return 0, malformed(subject, "", err.Error())
			}
			continue
		}
		if id, err = s.positiveInt(); err != nil {
			return 0, fieldError(subject, "", colID, err)
		}
	}
	if id == 0 {
		return 0, fieldError(subject, "", colID, probMissing)
	}
	return id, nil
}

// keyStruct returns the key's struct object: the payload of a schema/payload
// wrapper, or the key itself.
func keyStruct(key []byte, subject string) ([]byte, error) {
	s := scanner{buf: key}
	switch s.peek() {
	case '{':
	case 0, 'n':
		if s.pos >= len(key) || s.literal("null") == nil && s.atEnd() {
			return nil, malformed(subject, "", "key is null")
		}
		return nil, malformed(subject, "", "key is not a JSON object")
	default:
		return nil, malformed(subject, "", "key is not a JSON object")
	}
	start := s.pos
	var m members
	if err := s.readMembers(&m, nil); err != nil {
		return nil, malformed(subject, "", err.Error())
	}
	end := s.pos
	if !s.atEnd() {
		return nil, malformed(subject, "", s.fail("data after the JSON value").Error())
	}
	if m.payload == nil || m.count != m.wrapperKeys {
		return key[start:end:end], nil
	}
	if isNull(m.payload) {
		return nil, malformed(subject, "payload", "key is null")
	}
	if m.payload[0] != '{' {
		return nil, malformed(subject, "payload", string(probNotObject))
	}
	return m.payload, nil
}

// Column names as in the tables (DESIGN §1).
const (
	colProductID   = "product_id"
	colWarehouseID = "warehouse_id"
	colQtySalable  = "qty_salable"
	colVersion     = "version"
	colUpdatedAt   = "updated_at"
	colID          = "id"
	colCode        = "code"
	colName        = "name"
	colIsActive    = "is_active"
)

// decodeStockRow reads a stock_items row image; on error it names the column.
// qty_salable is required except in a delete's before-image: patching a cached
// row from an image without it would serve 0.
func decodeStockRow(img []byte, op domain.Op) (row domain.StockRow, column string, err error) {
	s := scanner{buf: img}
	if err := s.openObject(); err != nil {
		return row, "", err
	}
	var hasQty, hasVersion bool
	first := true
	for {
		key, ok, err := s.nextKey(&first)
		if err != nil {
			return row, "", err
		}
		if !ok {
			break
		}
		switch string(key) {
		case colProductID:
			if row.ProductID, err = s.positiveInt(); err != nil {
				return row, colProductID, err
			}
		case colWarehouseID:
			if row.WarehouseID, err = s.positiveInt(); err != nil {
				return row, colWarehouseID, err
			}
		case colQtySalable:
			v, null, err := s.intValue()
			if err != nil {
				return row, colQtySalable, err
			}
			if null {
				if op != domain.OpDelete {
					return row, colQtySalable, probNull
				}
				continue
			}
			if v < math.MinInt32 || v > math.MaxInt32 {
				return row, colQtySalable, probRange
			}
			row.QtySalable, hasQty = int32(v), true
		case colVersion:
			if row.Version, err = s.versionValue(); err != nil {
				return row, colVersion, err
			}
			hasVersion = true
		case colUpdatedAt:
			if err := s.timestampValue(); err != nil {
				return row, colUpdatedAt, err
			}
		default:
			if err := s.skipValue(1); err != nil {
				return row, "", err
			}
		}
	}
	switch {
	case row.ProductID == 0:
		return row, colProductID, probMissing
	case row.WarehouseID == 0:
		return row, colWarehouseID, probMissing
	case !hasVersion:
		return row, colVersion, probMissing
	case !hasQty && op != domain.OpDelete:
		return row, colQtySalable, probMissing
	}
	return row, "", nil
}

// decodeWarehouseRow reads a warehouses row image. code and is_active are
// required except in a delete's before-image, which only has to say which row
// (id) and which version went away.
func decodeWarehouseRow(img []byte, op domain.Op) (row domain.Warehouse, column string, err error) {
	s := scanner{buf: img}
	if err := s.openObject(); err != nil {
		return row, "", err
	}
	var hasCode, hasActive, hasVersion bool
	first := true
	for {
		key, ok, err := s.nextKey(&first)
		if err != nil {
			return row, "", err
		}
		if !ok {
			break
		}
		switch string(key) {
		case colID:
			if row.ID, err = s.positiveInt(); err != nil {
				return row, colID, err
			}
		case colCode:
			code, null, err := s.stringValue()
			if err != nil {
				return row, colCode, err
			}
			if null {
				return row, colCode, probNull
			}
			row.Code, hasCode = code, true
		case colName:
			if row.Name, _, err = s.stringValue(); err != nil {
				return row, colName, err
			}
		case colIsActive:
			raw, err := s.rawValue()
			if err != nil {
				return row, "", err
			}
			if row.Active, err = parseBoolish(raw); err != nil {
				return row, colIsActive, err
			}
			hasActive = true
		case colVersion:
			if row.Version, err = s.versionValue(); err != nil {
				return row, colVersion, err
			}
			hasVersion = true
		case colUpdatedAt:
			if err := s.timestampValue(); err != nil {
				return row, colUpdatedAt, err
			}
		default:
			if err := s.skipValue(1); err != nil {
				return row, "", err
			}
		}
	}
	switch {
	case row.ID == 0:
		return row, colID, probMissing
	case !hasVersion:
		return row, colVersion, probMissing
	case op == domain.OpDelete:
	case !hasCode:
		return row, colCode, probMissing
	case !hasActive:
		return row, colIsActive, probMissing
	}
	return row, "", nil
}

// intValue reads an integer member value; null reports null.
func (s *scanner) intValue() (v int64, null bool, err error) {
	mag, neg, null, err := s.intMember()
	if err != nil || null {
		return 0, null, err
	}
	v, ok := signedInt(mag, neg)
	if !ok {
		return 0, false, probRange
	}
	return v, false, nil
}

// intMember reads an integer member value or null.
func (s *scanner) intMember() (mag uint64, neg, null bool, err error) {
	switch c := s.peek(); {
	case c == 'n':
		return 0, false, true, s.literal("null")
	case c == '-' || isDigit(c):
		mag, neg, err = s.readInt()
		return mag, neg, false, err
	}
	return 0, false, false, probNotInteger
}

// positiveInt reads an id: an integer above zero.
func (s *scanner) positiveInt() (int64, error) {
	v, null, err := s.intValue()
	switch {
	case err != nil:
		return 0, err
	case null:
		return 0, probNull
	case v <= 0:
		return 0, probNotPositive
	}
	return v, nil
}

// versionValue reads a BIGINT UNSIGNED version (see unsignedBits).
func (s *scanner) versionValue() (uint64, error) {
	mag, neg, null, err := s.intMember()
	switch {
	case err != nil:
		return 0, err
	case null:
		return 0, probNull
	}
	v, ok := unsignedBits(mag, neg)
	if !ok {
		return 0, probRange
	}
	return v, nil
}

// timestampValue checks a DATETIME(6) member: epoch microseconds by default
// (epoch millis with time.precision.mode=connect), an ISO string with
// isostring, or null. The domain does not use it.
func (s *scanner) timestampValue() error {
	switch s.peek() {
	case '"':
		return s.skipString()
	case 'n':
		return s.literal("null")
	}
	_, _, err := s.intValue()
	return err
}

// stringValue reads a string member value; null reports null.
func (s *scanner) stringValue() (string, bool, error) {
	switch s.peek() {
	case '"':
		b, err := s.readString()
		if err != nil {
			return "", false, err
		}
		return validString(b), false, nil
	case 'n':
		return "", true, s.literal("null")
	}
	return "", false, probNotString
}
