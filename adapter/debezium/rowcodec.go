package debezium

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// RowCodec writes the change events and keys of a table as Debezium's MySQL
// connector does with its default converters. Row images are relay.Rows: a
// value per column in the text form of MySQL, nil for NULL. A RowCodec is
// immutable and safe for concurrent use.
type RowCodec struct {
	table             string
	cols              []colCodec
	all, key          []int  // the columns of a row image, of the key
	fields, keyFields []byte // their Connect schemas
}

type colCodec struct {
	name     string
	member   []byte // "name":
	kind     valueKind
	optional bool
	bits     int // BIT(n) width
	scale    int // DECIMAL scale, fractional digits of temporal types
}

type valueKind uint8

const (
	kindSigned valueKind = iota + 1
	kindUnsigned
	kindLong // BIGINT UNSIGNED as a long: above 2^63-1 it turns negative
	kindFloat32
	kindFloat64
	kindDecimal
	kindBool
	kindBits
	kindString
	kindBytes
	kindTime // the temporal kinds from here on
	kindDate
	kindDateTime
	kindTimestamp
)

// NewRowCodec prepares the codec of a table; it fails on a column type it
// cannot write faithfully. A table without a primary key has null keys.
func NewRowCodec(t *relay.Table) (*RowCodec, error) {
	fail := func(err error) (*RowCodec, error) {
		return nil, fmt.Errorf("row codec for %s.%s: %w", t.DB, t.Name, err)
	}
	if len(t.Columns) == 0 {
		return fail(errors.New("no columns"))
	}
	c := &RowCodec{table: t.Name, cols: make([]colCodec, len(t.Columns)), key: t.Key}
	schemas := make([][]byte, len(t.Columns))
	for i, col := range t.Columns {
		schema, kind := appendColumnSchema(nil, col)
		cc := colCodec{name: col.Name, member: append(jsonstr.Append(nil, col.Name), ':'), kind: kind,
			optional: col.Nullable, bits: col.Width, scale: col.Scale}
		switch {
		case kind == 0:
			// ENUM and SET need the value list (the binlog carries ordinals),
			// spatial types a WKB struct: out of this encoder's scope.
			return fail(fmt.Errorf("column %s: type %q is not supported; capture this table with Debezium", col.Name, col.Type))
		case kind == kindDecimal && (col.Scale < 0 || col.Precision < 1 || col.Scale > col.Precision):
			return fail(fmt.Errorf("column %s: DECIMAL(%d,%d) is not a valid precision and scale", col.Name, col.Precision, col.Scale))
		case col.Scale < 0 || col.Scale > 6 && kind >= kindTime:
			return fail(fmt.Errorf("column %s: %d fractional digits is out of range", col.Name, col.Scale))
		}
		c.cols[i], c.all, schemas[i] = cc, append(c.all, i), schema
	}
	var keySchemas [][]byte
	for _, k := range t.Key {
		if k < 0 || k >= len(t.Columns) {
			return fail(fmt.Errorf("key column index %d out of range", k))
		}
		keySchemas = append(keySchemas, schemas[k])
	}
	c.fields, c.keyFields = bytes.Join(schemas, []byte(",")), bytes.Join(keySchemas, []byte(","))
	return c, nil
}

// appendColumnSchema writes a column's Connect schema and says how its
// values are written, 0 for a type Debezium's defaults do not cover.
func appendColumnSchema(b []byte, col relay.Column) ([]byte, valueKind) {
	var kind valueKind
	var typ, logical, params string
	switch t := strings.ToLower(col.Type); t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		// One size up when unsigned values would not fit, but BIGINT stays
		// a long. TINYINT(1) is a plain TINYINT: int16.
		kind, typ = kindSigned, "int64"
		switch {
		case t == "tinyint" || t == "smallint" && !col.Unsigned:
			typ = "int16"
		case t == "smallint" || t == "mediumint" || t != "bigint" && !col.Unsigned:
			typ = "int32"
		}
		if col.Unsigned {
			kind = kindUnsigned
			if t == "bigint" {
				kind = kindLong
			}
		}
	case "float":
		kind, typ = kindFloat32, "float"
	case "double", "real":
		kind, typ = kindFloat64, "double"
	case "decimal", "numeric":
		kind, typ, logical = kindDecimal, "bytes", "org.apache.kafka.connect.data.Decimal"
		params = fmt.Sprintf(`{"scale":"%d","connect.decimal.precision":"%d"}`, col.Scale, col.Precision)
	case "bit":
		kind, typ = kindBool, "boolean"
		if col.Width > 1 {
			kind, typ, logical = kindBits, "bytes", "io.debezium.data.Bits"
			params = fmt.Sprintf(`{"length":"%d"}`, col.Width)
		}
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		kind, typ = kindString, "string"
	case "json":
		kind, typ, logical = kindString, "string", "io.debezium.data.Json"
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		kind, typ = kindBytes, "bytes"
	case "year":
		kind, typ, logical = kindSigned, "int32", "io.debezium.time.Year"
	case "date":
		kind, typ, logical = kindDate, "int32", "io.debezium.time.Date"
	case "datetime": // epoch millis up to three fractional digits, micros beyond
		kind, typ, logical = kindDateTime, "int64", "io.debezium.time.Timestamp"
		if col.Scale > 3 {
			logical = "io.debezium.time.MicroTimestamp"
		}
	case "timestamp":
		kind, typ, logical = kindTimestamp, "string", "io.debezium.time.ZonedTimestamp"
	case "time":
		kind, typ, logical = kindTime, "int64", "io.debezium.time.MicroTime"
	}
	b = append(b, `{"type":"`+typ+`","optional":`+strconv.FormatBool(col.Nullable)...)
	if logical != "" {
		b = append(b, `,"name":"`+logical+`","version":1`...)
	}
	if params != "" {
		b = append(b, `,"parameters":`+params...)
	}
	return append(jsonstr.Append(append(b, `,"field":`...), col.Name), '}'), kind
}

// EncodeKey writes the message key, the primary-key columns of row (nil for
// a table without one), its schema named after src as in EncodeEvent.
func (c *RowCodec) EncodeKey(src Source, row [][]byte, withSchema bool) ([]byte, error) {
	if len(c.key) == 0 {
		return nil, nil
	}
	b := make([]byte, 0, 64+len(c.keyFields))
	if withSchema {
		b = appendStructSchema(append(b, `{"schema":`...), c.keyFields, false, c.schemaName(src, "Key"), "")
		b = append(b, `,"payload":`...)
	}
	b, err := c.appendRow(b, row, c.key)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", c.table, err)
	}
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

// EncodeEvent writes a change event's value, in the {"schema","payload"}
// wrapper withSchema. c and r take only after, u after and maybe before, d
// only before, t neither. src is the source block and names the schemas
// "<Name>.<DB>.<Table>.Value"; processed is the envelope's ts_ms.
func (c *RowCodec) EncodeEvent(op domain.Op, before, after [][]byte, src Source, processed time.Time, withSchema bool) ([]byte, error) {
	if err := checkImages(op, before != nil, after != nil); err != nil {
		return nil, fmt.Errorf("encode %s event: %w", c.table, err)
	}
	if src.TsMs < 0 || src.TsMs > maxTsMs {
		return nil, fmt.Errorf("encode %s event: source ts_ms %d out of range", c.table, src.TsMs)
	}
	b := make([]byte, 0, 512+64*len(c.cols)+2*len(c.fields)+len(sourceSchema))
	if withSchema {
		value := c.schemaName(src, "Value")
		b = appendStructSchema(append(b, `{"schema":{"type":"struct","fields":[`...), c.fields, true, value, "before")
		b = appendStructSchema(append(b, ','), c.fields, true, value, "after")
		b = append(b, ","+sourceSchema+","+envelopeTail+`],"optional":false`...)
		if name := c.schemaName(src, "Envelope"); name != "" {
			b = jsonstr.Append(append(b, `,"name":`...), name)
		}
		b = append(b, `,"version":2},"payload":`...)
	}
	b = append(b, `{"before":`...)
	for i, img := range [...][][]byte{before, after} {
		if i == 1 {
			b = append(b, `,"after":`...)
		}
		if img == nil {
			b = append(b, "null"...)
			continue
		}
		var err error
		if b, err = c.appendRow(b, img, c.all); err != nil {
			return nil, fmt.Errorf("encode %s event: %s: %w", c.table, [...]string{"before", "after"}[i], err)
		}
	}
	b = append(appendSource(append(b, `,"source":`...), &src), `,"op":"`+string(rune(op))+`","ts_ms":`...)
	ns := processed.UnixNano()
	b = strconv.AppendInt(b, ns/1e6, 10)
	b = strconv.AppendInt(append(b, `,"ts_us":`...), ns/1e3, 10)
	b = strconv.AppendInt(append(b, `,"ts_ns":`...), ns, 10)
	b = append(b, `,"transaction":null}`...)
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

// schemaName is "<topic.prefix>.<db>.<table>.<suffix>", as Debezium names a
// table's schemas; "" when src names nothing.
func (c *RowCodec) schemaName(src Source, suffix string) string {
	if src.Name == "" && src.DB == "" && src.Table == "" {
		return ""
	}
	parts := []string{src.Name, src.DB, cmp.Or(src.Table, c.table), suffix}
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ".")
}

// appendStructSchema writes a struct schema; empty name and field are left out.
func appendStructSchema(b, fields []byte, optional bool, name, field string) []byte {
	b = append(append(append(b, `{"type":"struct","fields":[`...), fields...), `],"optional":`+strconv.FormatBool(optional)...)
	if name != "" {
		b = jsonstr.Append(append(b, `,"name":`...), name)
	}
	if field != "" {
		b = jsonstr.Append(append(b, `,"field":`...), field)
	}
	return append(b, '}')
}

// appendRow writes the given columns of a row as an object.
func (c *RowCodec) appendRow(b []byte, row [][]byte, cols []int) ([]byte, error) {
	if len(row) != len(c.cols) {
		return nil, fmt.Errorf("row has %d values, the table %d columns", len(row), len(c.cols))
	}
	b = append(b, '{')
	for i, k := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		col, v := &c.cols[k], row[k]
		var err error
		if b, err = col.appendValue(append(b, col.member...), v); err != nil {
			if len(v) > 32 {
				v = append(v[:32:32], "..."...)
			}
			return nil, fmt.Errorf("column %s: %q %w", col.name, v, err)
		}
	}
	return append(b, '}'), nil
}

// appendValue converts one MySQL text value to its Debezium JSON form.
func (c *colCodec) appendValue(b, v []byte) ([]byte, error) {
	notA := func(what string) ([]byte, error) { return nil, errors.New("is not " + what) }
	if v == nil {
		return append(b, "null"...), nil
	}
	switch c.kind { // each case converts v itself, so that short values need no allocation
	case kindSigned:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return notA("an integer")
		}
		return strconv.AppendInt(b, n, 10), nil
	case kindUnsigned, kindLong:
		n, err := strconv.ParseUint(string(v), 10, 64)
		switch {
		case err != nil:
			return notA("an integer")
		case c.kind == kindLong:
			return strconv.AppendInt(b, int64(n), 10), nil
		}
		return strconv.AppendUint(b, n, 10), nil
	case kindFloat32, kindFloat64:
		size := 64
		if c.kind == kindFloat32 {
			size = 32
		}
		f, err := strconv.ParseFloat(string(v), size)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return notA("a finite number")
		}
		return strconv.AppendFloat(b, f, 'g', -1, size), nil
	case kindDecimal:
		raw, err := decimalBytes(string(v), c.scale)
		if err != nil {
			return nil, err
		}
		return appendBase64(b, raw), nil
	case kindBool:
		return strconv.AppendBool(b, len(bytes.Trim(v, "\x00")) > 0), nil
	case kindBits:
		// io.debezium.data.Bits holds the bytes little-endian.
		le := make([]byte, (c.bits+7)/8)
		for i := 0; i < len(le) && i < len(v); i++ {
			le[i] = v[len(v)-1-i]
		}
		return appendBase64(b, le), nil
	case kindString:
		return jsonstr.Append(b, string(v)), nil
	case kindBytes:
		return appendBase64(b, v), nil
	case kindTime: // "[-]H+:MM:SS[.ffffff]" as microseconds
		s := string(v)
		h, minSec, _ := strings.Cut(strings.TrimPrefix(s, "-"), ":")
		hours, err := strconv.ParseUint(h, 10, 16)
		t, err2 := time.Parse("04:05", minSec)
		if err != nil || err2 != nil {
			return notA("a MySQL TIME value")
		}
		us := int64(hours)*3_600_000_000 + t.Sub(t.Truncate(time.Hour)).Microseconds()
		if s[0] == '-' {
			us = -us
		}
		return strconv.AppendInt(b, us, 10), nil
	}
	// The date and time types; MySQL's zero date is null where allowed, else
	// the epoch (Debezium's rule).
	if bytes.HasPrefix(v, []byte("0000-00-00")) {
		switch {
		case c.optional:
			return append(b, "null"...), nil
		case c.kind == kindTimestamp:
			return append(b, `"1970-01-01T00:00:00Z"`...), nil
		}
		return append(b, '0'), nil
	}
	layout := time.DateTime
	if c.kind == kindDate {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, string(v))
	switch {
	case err != nil:
		return notA("a MySQL date/time value")
	case c.kind == kindDate:
		return strconv.AppendInt(b, t.Unix()/86400, 10), nil // midnight: no remainder
	case c.kind == kindDateTime && c.scale <= 3:
		return strconv.AppendInt(b, t.UnixMilli(), 10), nil
	case c.kind == kindDateTime:
		return strconv.AppendInt(b, t.UnixMicro(), 10), nil
	}
	// TIMESTAMP as io.debezium.time.ZonedTimestamp: ISO-8601 in UTC.
	b = t.AppendFormat(append(b, '"'), "2006-01-02T15:04:05")
	if c.scale > 0 {
		frac := strconv.Itoa(t.Nanosecond() + 1_000_000_000) // the leading 1 keeps the zeros
		b = append(append(b, '.'), frac[1:1+c.scale]...)
	}
	return append(b, `Z"`...), nil
}

func appendBase64(b, raw []byte) []byte {
	return append(base64.StdEncoding.AppendEncode(append(b, '"'), raw), '"')
}

// decimalBytes is a DECIMAL's unscaled value as Java's BigInteger.toByteArray
// writes it: big-endian two's complement in the fewest bytes.
func decimalBytes(s string, scale int) ([]byte, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.Trim(s, "+-.0123456789") != "" {
		return nil, errors.New("is not a decimal number")
	}
	if r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))); !r.IsInt() {
		return nil, fmt.Errorf("has more than %d fractional digits", scale)
	}
	n := r.Num()
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...) // room for the sign bit
		}
		return b, nil
	}
	// The smallest size whose range reaches n, then 2^(8*size)+n.
	size := new(big.Int).Not(n).BitLen()/8 + 1
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*size))
	return m.Add(m, n).FillBytes(make([]byte, size)), nil
}
