package binlog

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/sqlerror"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/gintoki/gintoki/usecase/relay"
)

// tableInfo is a captured table's shape plus what decoding its binlog rows
// takes.
type tableInfo struct {
	table *relay.Table
	// fields tell binlog.CellValue each column's signedness and binary-ness.
	fields []*querypb.Field
	// latin1 marks text columns whose bytes must be converted to UTF-8.
	latin1 []bool
	// binlogTypes lists, per column, the binlog type codes its values may
	// arrive as.
	binlogTypes [][]byte
	// prefixes caches the shapes of leading columns, by column count.
	prefixes map[int]*tableInfo
}

// quote makes s a single-quoted SQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// quoteIdent makes s a backquoted identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// columnSpec is a column as a source describes it: information_schema, or
// a table-map event's metadata.
type columnSpec struct {
	col relay.Column
	// columnType is information_schema's COLUMN_TYPE (bigint(20) unsigned),
	// or its equivalent for a table-map column.
	columnType string
	// charset names a text column's character set, "" for other columns.
	charset string
}

// loadTable reads the shape of db.name from information_schema.
func loadTable(c *mysql.Conn, db, name string) (*tableInfo, error) {
	specs, key, err := readColumns(c, db, name)
	if err != nil {
		return nil, err
	}
	return newTableInfo(db, name, specs, key)
}

// readColumns reads the columns and primary key of db.name from
// information_schema, as they are now.
func readColumns(c *mysql.Conn, db, name string) ([]columnSpec, []int, error) {
	full := db + "." + name
	// SELECT ... LIMIT 0 tells a missing table from a missing privilege;
	// information_schema would show neither.
	if _, err := c.ExecuteFetch("SELECT * FROM "+quoteIdent(db)+"."+quoteIdent(name)+" LIMIT 0", 0, false); err != nil {
		switch sqlCode(err) {
		case sqlerror.ERNoSuchTable:
			return nil, nil, relay.Permanent(relay.StopMissingTable, fmt.Errorf("captured table %s does not exist (check --relay-tables and the database in --db)", full))
		case sqlerror.ERTableAccessDenied, sqlerror.ERDBAccessDenied:
			// The server says so for a missing table too, when the user
			// may not see whether it exists.
			return nil, nil, relay.Permanent(relay.StopPrivileges, fmt.Errorf("the relay user cannot read %s (or it does not exist): GRANT SELECT ON %s TO <user>: %w", full, full, err))
		}
		return nil, nil, fmt.Errorf("read table %s: %w", full, err)
	}
	qr, err := c.ExecuteFetch(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), COALESCE(DATETIME_PRECISION, 0),
		COALESCE(CHARACTER_SET_NAME, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = `+quote(db)+` AND TABLE_NAME = `+quote(name)+`
		ORDER BY ORDINAL_POSITION`, 10000, false)
	if err != nil {
		return nil, nil, fmt.Errorf("read the columns of %s: %w", full, err)
	}
	if len(qr.Rows) == 0 {
		return nil, nil, relay.Permanent(relay.StopPrivileges, fmt.Errorf("captured table %s shows no columns to the relay user", full))
	}
	specs := make([]columnSpec, 0, len(qr.Rows))
	for _, r := range qr.Rows {
		specs = append(specs, schemaColumn(r[0].ToString(), r[1].ToString(), r[2].ToString(), r[3].ToString(),
			r[4].ToString(), r[5].ToString(), r[6].ToString(), r[7].ToString()))
	}
	keys, err := c.ExecuteFetch(`SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = `+quote(db)+` AND TABLE_NAME = `+quote(name)+` AND CONSTRAINT_NAME = 'PRIMARY'
		ORDER BY ORDINAL_POSITION`, 1000, false)
	if err != nil {
		return nil, nil, fmt.Errorf("read the primary key of %s: %w", full, err)
	}
	var key []int
	for _, k := range keys.Rows {
		i := specIndex(specs, k[0].ToString())
		if i < 0 {
			return nil, nil, fmt.Errorf("primary key column %s of %s is not among its columns", k[0].ToString(), full)
		}
		key = append(key, i)
	}
	return specs, key, nil
}

// schemaColumn is one row of information_schema.COLUMNS.
func schemaColumn(name, dataType, columnType, nullable, numPrec, numScale, dtPrec, charset string) columnSpec {
	col := relay.Column{Name: name, Type: strings.ToLower(dataType), Nullable: nullable == "YES"}
	columnType = strings.ToLower(columnType)
	col.Unsigned = strings.Contains(columnType, "unsigned")
	switch col.Type {
	case "decimal", "numeric":
		col.Precision, _ = strconv.Atoi(numPrec)
		col.Scale, _ = strconv.Atoi(numScale)
	case "bit":
		col.Width, _ = strconv.Atoi(numPrec)
	case "datetime", "timestamp", "time":
		col.Scale, _ = strconv.Atoi(dtPrec)
	}
	return columnSpec{col: col, columnType: columnType, charset: strings.ToLower(charset)}
}

func specIndex(specs []columnSpec, name string) int {
	for i, sp := range specs {
		if sp.col.Name == name {
			return i
		}
	}
	return -1
}

// newTableInfo prepares the decoding of a table shape; a column the relay
// cannot capture stops it for good.
func newTableInfo(db, name string, specs []columnSpec, key []int) (*tableInfo, error) {
	full := db + "." + name
	info := &tableInfo{table: &relay.Table{DB: db, Name: name, Key: key}}
	for _, sp := range specs {
		field, types, err := columnDecoding(sp.col, sp.columnType)
		if err != nil {
			return nil, relay.Permanent(relay.StopUnsupported, fmt.Errorf("captured table %s: %w", full, err))
		}
		switch sp.charset {
		case "", "binary", "utf8mb4", "utf8mb3", "utf8", "ascii", "latin1":
		default:
			return nil, relay.Permanent(relay.StopUnsupported, fmt.Errorf("captured table %s: column %s uses character set %s; the relay reads utf8mb4, utf8mb3, ascii and latin1", full, sp.col.Name, sp.charset))
		}
		info.table.Columns = append(info.table.Columns, sp.col)
		info.fields = append(info.fields, field)
		info.binlogTypes = append(info.binlogTypes, types)
		info.latin1 = append(info.latin1, sp.charset == "latin1")
	}
	return info, nil
}

// matches reports whether a table-map event describes this shape.
func (t *tableInfo) matches(tm *mysql.TableMap) bool {
	if len(tm.Types) != len(t.binlogTypes) {
		return false
	}
	for i, typ := range tm.Types {
		if bytes.IndexByte(t.binlogTypes[i], typ) < 0 {
			return false
		}
	}
	return true
}

// prefix returns the shape of the table's leading columns when the table
// map matches them (events written before columns were added at the end),
// or nil. The result is cached, so its *relay.Table is stable.
func (t *tableInfo) prefix(tm *mysql.TableMap) *tableInfo {
	n := len(tm.Types)
	if n == 0 || n >= len(t.binlogTypes) {
		return nil
	}
	for _, k := range t.table.Key {
		if k >= n {
			return nil
		}
	}
	if p := t.prefixes[n]; p != nil {
		if p.matches(tm) {
			return p
		}
		return nil
	}
	p := &tableInfo{
		table:  &relay.Table{DB: t.table.DB, Name: t.table.Name, Columns: t.table.Columns[:n:n], Key: t.table.Key},
		fields: t.fields[:n:n], latin1: t.latin1[:n:n], binlogTypes: t.binlogTypes[:n:n],
	}
	if !p.matches(tm) {
		return nil
	}
	if t.prefixes == nil {
		t.prefixes = map[int]*tableInfo{}
	}
	t.prefixes[n] = p
	return p
}

// columnDecoding returns the field CellValue needs for col and the binlog
// types its values may arrive as. It refuses types whose binlog form needs
// more than the table map and information_schema give (ENUM and SET carry
// ordinals, spatial types WKB).
func columnDecoding(col relay.Column, columnType string) (*querypb.Field, []byte, error) {
	f := &querypb.Field{Name: col.Name, ColumnType: columnType}
	var types []byte
	integer := func(signed, unsigned querypb.Type, binlogType byte) {
		f.Type = signed
		if col.Unsigned {
			f.Type = unsigned
		}
		types = []byte{binlogType}
	}
	switch col.Type {
	case "tinyint":
		integer(querypb.Type_INT8, querypb.Type_UINT8, binlog.TypeTiny)
	case "smallint":
		integer(querypb.Type_INT16, querypb.Type_UINT16, binlog.TypeShort)
	case "mediumint":
		integer(querypb.Type_INT24, querypb.Type_UINT24, binlog.TypeInt24)
	case "int", "integer":
		integer(querypb.Type_INT32, querypb.Type_UINT32, binlog.TypeLong)
	case "bigint":
		integer(querypb.Type_INT64, querypb.Type_UINT64, binlog.TypeLongLong)
	case "float":
		f.Type, types = querypb.Type_FLOAT32, []byte{binlog.TypeFloat}
	case "double", "real":
		f.Type, types = querypb.Type_FLOAT64, []byte{binlog.TypeDouble}
	case "decimal", "numeric":
		f.Type, types = querypb.Type_DECIMAL, []byte{binlog.TypeNewDecimal}
	case "bit":
		f.Type, types = querypb.Type_BIT, []byte{binlog.TypeBit}
	case "date":
		f.Type, types = querypb.Type_DATE, []byte{binlog.TypeDate, binlog.TypeNewDate}
	case "datetime":
		f.Type, types = querypb.Type_DATETIME, []byte{binlog.TypeDateTime, binlog.TypeDateTime2}
	case "timestamp":
		f.Type, types = querypb.Type_TIMESTAMP, []byte{binlog.TypeTimestamp, binlog.TypeTimestamp2}
	case "time":
		f.Type, types = querypb.Type_TIME, []byte{binlog.TypeTime, binlog.TypeTime2}
	case "year":
		f.Type, types = querypb.Type_YEAR, []byte{binlog.TypeYear}
	case "char":
		f.Type, types = querypb.Type_CHAR, []byte{binlog.TypeString}
	case "varchar":
		f.Type, types = querypb.Type_VARCHAR, []byte{binlog.TypeVarchar, binlog.TypeVarString}
	case "binary":
		f.Type, types = querypb.Type_BINARY, []byte{binlog.TypeString}
	case "varbinary":
		f.Type, types = querypb.Type_VARBINARY, []byte{binlog.TypeVarchar, binlog.TypeVarString}
	case "tinytext", "text", "mediumtext", "longtext":
		f.Type, types = querypb.Type_TEXT, []byte{binlog.TypeBlob}
	case "tinyblob", "blob", "mediumblob", "longblob":
		f.Type, types = querypb.Type_BLOB, []byte{binlog.TypeBlob}
	case "json":
		f.Type, types = querypb.Type_JSON, []byte{binlog.TypeJSON, binlog.TypeBlob}
	default:
		return nil, nil, fmt.Errorf("column %s has type %s, which the relay cannot capture (use Debezium for this table)", col.Name, col.Type)
	}
	return f, types, nil
}
