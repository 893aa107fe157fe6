package debezium

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// MySQLColumn describes a column of any table as a binlog reader knows it,
// so RowCodec can write its values the way Debezium's MySQL connector does
// with its default converters.
type MySQLColumn struct {
	Name string
	// Type is the MySQL data type in lower case, as information_schema
	// names it: tinyint, smallint, mediumint, int, bigint, decimal, float,
	// double, bit, date, datetime, timestamp, time, year, char, varchar,
	// tinytext, text, mediumtext, longtext, binary, varbinary, tinyblob,
	// blob, mediumblob, longblob, json.
	Type     string
	Unsigned bool
	// Width is the bit count of BIT(n). (TINYINT(1) is a plain TINYINT to
	// Debezium: an int16 unless a converter says otherwise.)
	Width int
	// Precision and Scale of DECIMAL; Scale is also the fractional-second
	// digits of DATETIME, TIMESTAMP and TIME.
	Precision, Scale int
	Nullable         bool
}

// RowCodec writes the change events and keys of one table. Row images are
// given as one value per column in MySQLColumn order, each in the text form
// MySQL's text protocol uses over a utf8mb4 connection (TIMESTAMP in UTC,
// BIT as its raw bytes, binary strings as their bytes); a nil value is NULL.
// A RowCodec is immutable and safe for concurrent use.
type RowCodec struct {
	table   string
	cols    []colCodec
	key     []int
	keyName string
	// Rendered schemas, written once per message when asked for.
	envelopeSchema, keySchema []byte
}

// colCodec is how one column is written.
type colCodec struct {
	column // name, Connect type and schema, shared with the fixed tables' schemas
	kind   valueKind
	bits   int // BIT(n) width, FLOAT precision
	scale  int // DECIMAL scale, fractional digits of temporal types
}

type valueKind uint8

const (
	kindSigned valueKind = iota + 1
	kindUnsigned
	kindUnsignedLong // BIGINT UNSIGNED under bigint.unsigned.handling.mode=long
	kindFloat32
	kindFloat64
	kindDecimal
	kindBool
	kindBits
	kindString
	kindBytes
	kindDate
	kindDateTimeMillis
	kindDateTimeMicros
	kindTimestamp
	kindTime
	kindYear
)

// Logical type names Debezium and Kafka Connect put in schemas.
const (
	logicalDate           = "io.debezium.time.Date"
	logicalTimestamp      = "io.debezium.time.Timestamp"
	logicalMicroTime      = "io.debezium.time.MicroTime"
	logicalZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	logicalYear           = "io.debezium.time.Year"
	logicalJSON           = "io.debezium.data.Json"
	logicalBits           = "io.debezium.data.Bits"
	logicalDecimal        = "org.apache.kafka.connect.data.Decimal"
)

// NewRowCodec prepares the codec of table db.table whose events go out
// under topic prefix name; key lists the primary-key columns in key order
// (none: messages get a null key, as Debezium gives a table without a
// primary key). It fails on a column type it cannot write faithfully.
func NewRowCodec(name, db, table string, cols []MySQLColumn, key []string) (*RowCodec, error) {
	if len(cols) == 0 {
		return nil, fmt.Errorf("row codec for %s.%s: no columns", db, table)
	}
	c := &RowCodec{table: table, cols: make([]colCodec, len(cols))}
	index := make(map[string]int, len(cols))
	for i, col := range cols {
		cc, err := newColCodec(col)
		if err != nil {
			return nil, fmt.Errorf("row codec for %s.%s: %w", db, table, err)
		}
		c.cols[i] = cc
		index[col.Name] = i
	}
	for _, k := range key {
		i, ok := index[k]
		if !ok {
			return nil, fmt.Errorf("row codec for %s.%s: key column %q is not a column of the table", db, table, k)
		}
		c.key = append(c.key, i)
	}
	prefix := joinName(name, db, table)
	c.keyName = prefix + ".Key"
	c.envelopeSchema = c.appendEnvelopeSchema(nil, prefix+".Value", prefix+".Envelope")
	if len(c.key) > 0 {
		keyCols := make([]column, len(c.key))
		for i, k := range c.key {
			keyCols[i] = c.cols[k].column
		}
		c.keySchema = appendStructSchema(nil, keyCols, false, c.keyName, "")
	}
	return c, nil
}

func joinName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func newColCodec(col MySQLColumn) (colCodec, error) {
	c := colCodec{column: column{name: col.Name, optional: col.Nullable}, scale: col.Scale}
	switch t := strings.ToLower(col.Type); t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		c.kind, c.typ = kindSigned, signedType(t, col.Unsigned)
		if col.Unsigned {
			c.kind = kindUnsigned
			if t == "bigint" {
				c.kind = kindUnsignedLong
			}
		}
	case "float":
		c.kind, c.typ = kindFloat32, "float"
	case "double", "real":
		c.kind, c.typ = kindFloat64, "double"
	case "decimal", "numeric":
		if col.Scale < 0 || col.Precision < 1 || col.Scale > col.Precision {
			return c, fmt.Errorf("column %s: DECIMAL(%d,%d) is not a valid precision and scale", col.Name, col.Precision, col.Scale)
		}
		c.kind, c.typ, c.logical = kindDecimal, "bytes", logicalDecimal
		c.params = [][2]string{{"scale", strconv.Itoa(col.Scale)}, {"connect.decimal.precision", strconv.Itoa(col.Precision)}}
	case "bit":
		if col.Width <= 1 {
			c.kind, c.typ = kindBool, "boolean"
			break
		}
		c.kind, c.typ, c.logical, c.bits = kindBits, "bytes", logicalBits, col.Width
		c.params = [][2]string{{"length", strconv.Itoa(col.Width)}}
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		c.kind, c.typ = kindString, "string"
	case "json":
		c.kind, c.typ, c.logical = kindString, "string", logicalJSON
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		c.kind, c.typ = kindBytes, "bytes"
	case "date":
		c.kind, c.typ, c.logical = kindDate, "int32", logicalDate
	case "datetime":
		// time.precision.mode=adaptive_time_microseconds: millis up to
		// three fractional digits, micros beyond.
		if col.Scale <= 3 {
			c.kind, c.typ, c.logical = kindDateTimeMillis, "int64", logicalTimestamp
		} else {
			c.kind, c.typ, c.logical = kindDateTimeMicros, "int64", microTimestamp
		}
	case "timestamp":
		c.kind, c.typ, c.logical = kindTimestamp, "string", logicalZonedTimestamp
	case "time":
		c.kind, c.typ, c.logical = kindTime, "int64", logicalMicroTime
	case "year":
		c.kind, c.typ, c.logical = kindYear, "int32", logicalYear
	case "":
		return c, fmt.Errorf("column %s: no data type given", col.Name)
	default:
		// ENUM and SET need the value list (the binlog carries ordinals),
		// spatial types a WKB struct: out of this encoder's scope.
		return c, fmt.Errorf("column %s: type %s is not supported; capture this table with Debezium", col.Name, t)
	}
	if col.Scale < 0 || col.Scale > 6 && (c.kind == kindDateTimeMicros || c.kind == kindTimestamp || c.kind == kindTime) {
		return c, fmt.Errorf("column %s: %d fractional digits is out of range", col.Name, col.Scale)
	}
	return c, nil
}

// signedType is the Connect integer type Debezium gives a MySQL integer:
// one size up when unsigned values would not fit (BIGINT UNSIGNED stays
// int64 under bigint.unsigned.handling.mode=long).
func signedType(t string, unsigned bool) string {
	switch t {
	case "tinyint", "smallint":
		if unsigned && t == "smallint" {
			return "int32"
		}
		return "int16"
	case "mediumint":
		return "int32"
	case "int", "integer":
		if unsigned {
			return "int64"
		}
		return "int32"
	}
	return "int64"
}

// Columns returns the number of columns a row image must have.
func (c *RowCodec) Columns() int { return len(c.cols) }

// HasKey reports whether the table has a primary key; without one its
// messages carry a null key.
func (c *RowCodec) HasKey() bool { return len(c.key) > 0 }

// EncodeKey writes the message key: the primary-key columns of row. It
// returns nil for a table without a primary key.
func (c *RowCodec) EncodeKey(row [][]byte, withSchema bool) ([]byte, error) {
	if len(c.key) == 0 {
		return nil, nil
	}
	if len(row) != len(c.cols) {
		return nil, fmt.Errorf("encode %s key: row has %d values, the table %d columns", c.table, len(row), len(c.cols))
	}
	b := make([]byte, 0, 32+len(c.keySchema))
	if withSchema {
		b = append(b, `{"schema":`...)
		b = append(b, c.keySchema...)
		b = append(b, `,"payload":`...)
	}
	b = append(b, '{')
	for i, k := range c.key {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = c.cols[k].appendMember(b, row[k]); err != nil {
			return nil, fmt.Errorf("encode %s key: %w", c.table, err)
		}
	}
	b = append(b, '}')
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

// EncodeEvent writes a change event's value. before and after follow the
// op as in EncodeStock. src is written as the source block (its TsMs is
// when the change happened); processed is when the relay handled it, the
// envelope's ts_ms/ts_us/ts_ns.
func (c *RowCodec) EncodeEvent(op domain.Op, before, after [][]byte, src Source, processed time.Time, withSchema bool) ([]byte, error) {
	if err := checkImages(op, before != nil, after != nil); err != nil {
		return nil, fmt.Errorf("encode %s event: %w", c.table, err)
	}
	if src.TsMs < 0 || src.TsMs > maxTsMs {
		return nil, fmt.Errorf("encode %s event: source ts_ms %d out of range", c.table, src.TsMs)
	}
	b := make([]byte, 0, 384+32*len(c.cols)*2+len(c.envelopeSchema))
	if withSchema {
		b = append(b, `{"schema":`...)
		b = append(b, c.envelopeSchema...)
		b = append(b, `,"payload":`...)
	}
	var err error
	b = append(b, `{"before":`...)
	if b, err = c.appendImage(b, before); err != nil {
		return nil, fmt.Errorf("encode %s event: before: %w", c.table, err)
	}
	b = append(b, `,"after":`...)
	if b, err = c.appendImage(b, after); err != nil {
		return nil, fmt.Errorf("encode %s event: after: %w", c.table, err)
	}
	b = append(b, `,"source":`...)
	b = appendSource(b, src)
	b = append(b, `,"op":"`...)
	b = append(b, byte(op))
	ns := processed.UnixNano()
	b = append(b, `","ts_ms":`...)
	b = strconv.AppendInt(b, ns/1e6, 10)
	b = append(b, `,"ts_us":`...)
	b = strconv.AppendInt(b, ns/1e3, 10)
	b = append(b, `,"ts_ns":`...)
	b = strconv.AppendInt(b, ns, 10)
	b = append(b, `,"transaction":null}`...)
	if withSchema {
		b = append(b, '}')
	}
	return b, nil
}

func (c *RowCodec) appendImage(b []byte, row [][]byte) ([]byte, error) {
	if row == nil {
		return append(b, "null"...), nil
	}
	if len(row) != len(c.cols) {
		return nil, fmt.Errorf("row has %d values, the table %d columns", len(row), len(c.cols))
	}
	b = append(b, '{')
	for i := range c.cols {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = c.cols[i].appendMember(b, row[i]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func (c *colCodec) appendMember(b []byte, v []byte) ([]byte, error) {
	b = appendQuoted(b, c.name)
	b = append(b, ':')
	out, err := c.appendValue(b, v)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", c.name, err)
	}
	return out, nil
}

// appendValue converts one MySQL text value to its Debezium JSON form.
func (c *colCodec) appendValue(b, v []byte) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	switch c.kind {
	case kindSigned:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, errNotInteger(v)
		}
		return strconv.AppendInt(b, n, 10), nil
	case kindUnsigned:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return nil, errNotInteger(v)
		}
		return strconv.AppendUint(b, n, 10), nil
	case kindUnsignedLong:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return nil, errNotInteger(v)
		}
		// Above 2^63-1 the bits are written as a negative long, as
		// Debezium's default does.
		return strconv.AppendInt(b, int64(n), 10), nil
	case kindFloat32, kindFloat64:
		size := 64
		if c.kind == kindFloat32 {
			size = 32
		}
		f, err := strconv.ParseFloat(string(v), size)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%q is not a finite number", truncate(v))
		}
		return strconv.AppendFloat(b, f, 'g', -1, size), nil
	case kindDecimal:
		raw, err := decimalBytes(v, c.scale)
		if err != nil {
			return nil, err
		}
		return appendBase64(b, raw), nil
	case kindBool:
		for _, x := range v {
			if x != 0 {
				return append(b, "true"...), nil
			}
		}
		return append(b, "false"...), nil
	case kindBits:
		return appendBase64(b, littleEndianBits(v, c.bits)), nil
	case kindString:
		return appendQuoted(b, string(v)), nil
	case kindBytes:
		return appendBase64(b, v), nil
	case kindDate:
		if isZeroTemporal(v) {
			return c.zeroValue(b, "0"), nil
		}
		t, err := parseDateTime(v, false)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(b, floorDiv(t.Unix(), 86400), 10), nil
	case kindDateTimeMillis, kindDateTimeMicros:
		if isZeroTemporal(v) {
			return c.zeroValue(b, "0"), nil
		}
		t, err := parseDateTime(v, true)
		if err != nil {
			return nil, err
		}
		if c.kind == kindDateTimeMillis {
			return strconv.AppendInt(b, t.UnixMilli(), 10), nil
		}
		return strconv.AppendInt(b, t.UnixMicro(), 10), nil
	case kindTimestamp:
		if isZeroTemporal(v) {
			return c.zeroValue(b, `"1970-01-01T00:00:00Z"`), nil
		}
		t, err := parseDateTime(v, true)
		if err != nil {
			return nil, err
		}
		return appendZoned(b, t, c.scale), nil
	case kindTime:
		us, err := parseTime(v)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(b, us, 10), nil
	case kindYear:
		n, err := strconv.ParseInt(string(v), 10, 32)
		if err != nil {
			return nil, errNotInteger(v)
		}
		return strconv.AppendInt(b, n, 10), nil
	}
	return nil, fmt.Errorf("no encoding for kind %d", c.kind)
}

// zeroValue writes MySQL's zero date: null where the column allows it,
// else the epoch (Debezium's rule).
func (c *colCodec) zeroValue(b []byte, epoch string) []byte {
	if c.optional {
		return append(b, "null"...)
	}
	return append(b, epoch...)
}

func errNotInteger(v []byte) error { return fmt.Errorf("%q is not an integer", truncate(v)) }

func truncate(v []byte) string {
	if len(v) > 32 {
		return string(v[:32]) + "..."
	}
	return string(v)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func appendBase64(b, raw []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}

// littleEndianBits turns MySQL's big-endian BIT bytes into the
// little-endian array of ceil(n/8) bytes io.debezium.data.Bits holds.
func littleEndianBits(v []byte, n int) []byte {
	size := (n + 7) / 8
	out := make([]byte, size)
	for i := 0; i < size && i < len(v); i++ {
		out[i] = v[len(v)-1-i]
	}
	return out
}

// decimalBytes is the unscaled value of a DECIMAL as Java's
// BigInteger.toByteArray writes it: big-endian two's complement in the
// fewest bytes. The scale lives in the schema.
func decimalBytes(v []byte, scale int) ([]byte, error) {
	s := string(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return nil, fmt.Errorf("%q is not a decimal number", truncate(v))
	}
	if len(frac) > scale {
		if strings.Trim(frac[scale:], "0") != "" {
			return nil, fmt.Errorf("%q has more than %d fractional digits", truncate(v), scale)
		}
		frac = frac[:scale]
	}
	digits := intPart + frac + strings.Repeat("0", scale-len(frac))
	if digits == "" {
		digits = "0"
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", truncate(v))
	}
	if neg {
		n.Neg(n)
	}
	return twosComplement(n), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func twosComplement(n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return []byte{0}
	case 1:
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// For n < 0: the smallest size whose range reaches n, then 2^(8*size)+n.
	size := (new(big.Int).Not(n).BitLen())/8 + 1
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*size))
	m.Add(m, n)
	b := m.Bytes()
	out := make([]byte, size)
	copy(out[size-len(b):], b)
	return out
}

func isZeroTemporal(v []byte) bool {
	return len(v) >= 10 && string(v[:10]) == "0000-00-00"
}

var errBadTemporal = errors.New("not a MySQL date/time value")

// parseDateTime reads "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS[.ffffff]" as UTC.
func parseDateTime(v []byte, withTime bool) (time.Time, error) {
	s := string(v)
	bad := func() (time.Time, error) { return time.Time{}, fmt.Errorf("%q: %w", truncate(v), errBadTemporal) }
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return bad()
	}
	year, ok1 := atoiN(s[0:4])
	month, ok2 := atoiN(s[5:7])
	day, ok3 := atoiN(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	var hour, minute, sec, nanos int
	rest := s[10:]
	if rest != "" {
		if !withTime || len(rest) < 9 || rest[0] != ' ' && rest[0] != 'T' || rest[3] != ':' || rest[6] != ':' {
			return bad()
		}
		var ok4, ok5, ok6 bool
		hour, ok4 = atoiN(rest[1:3])
		minute, ok5 = atoiN(rest[4:6])
		sec, ok6 = atoiN(rest[7:9])
		if !ok4 || !ok5 || !ok6 {
			return bad()
		}
		if frac := rest[9:]; frac != "" {
			n, ok := fraction(frac)
			if !ok {
				return bad()
			}
			nanos = n
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC), nil
}

// fraction reads ".ffffff" into nanoseconds.
func fraction(s string) (int, bool) {
	if len(s) < 2 || s[0] != '.' || len(s) > 10 {
		return 0, false
	}
	digits := s[1:]
	n, ok := atoiN(digits)
	if !ok {
		return 0, false
	}
	for i := len(digits); i < 9; i++ {
		n *= 10
	}
	return n, true
}

func atoiN(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseTime reads a TIME value "[-]H+:MM:SS[.ffffff]" into microseconds.
func parseTime(v []byte) (int64, error) {
	s := string(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	h, rest, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("%q is not a MySQL TIME value", truncate(v))
	if !ok || len(rest) < 5 || rest[2] != ':' {
		return 0, bad
	}
	hours, ok1 := atoiN(h)
	minutes, ok2 := atoiN(rest[0:2])
	secs, ok3 := atoiN(rest[3:5])
	if !ok1 || !ok2 || !ok3 {
		return 0, bad
	}
	var nanos int
	if frac := rest[5:]; frac != "" {
		n, ok := fraction(frac)
		if !ok {
			return 0, bad
		}
		nanos = n
	}
	us := (int64(hours)*3600+int64(minutes)*60+int64(secs))*1_000_000 + int64(nanos/1000)
	if neg {
		us = -us
	}
	return us, nil
}

// appendZoned writes a TIMESTAMP as io.debezium.time.ZonedTimestamp does:
// ISO-8601 in UTC, with the column's fractional digits.
func appendZoned(b []byte, t time.Time, digits int) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if digits > 0 {
		frac := strconv.Itoa(t.Nanosecond() + 1_000_000_000) // leading 1 keeps the zeros
		b = append(b, '.')
		b = append(b, frac[1:1+digits]...)
	}
	return append(b, `Z"`...)
}

// appendEnvelopeSchema writes the envelope schema with this table's
// before/after struct.
func (c *RowCodec) appendEnvelopeSchema(b []byte, valueName, envelopeName string) []byte {
	cols := make([]column, len(c.cols))
	for i := range c.cols {
		cols[i] = c.cols[i].column
	}
	b = append(b, `{"type":"struct","fields":[`...)
	b = appendStructSchema(b, cols, true, valueName, "before")
	b = append(b, ',')
	b = appendStructSchema(b, cols, true, valueName, "after")
	b = append(b, ',')
	b = append(b, sourceSchema...)
	b = append(b, ',')
	b = append(b, envelopeTail...)
	b = append(b, `],"optional":false,"name":`...)
	b = appendQuoted(b, envelopeName)
	return append(b, `,"version":2}`...)
}
