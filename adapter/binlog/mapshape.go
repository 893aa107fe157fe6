package binlog

import (
	"errors"
	"fmt"
	"strconv"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/gintoki/gintoki/usecase/relay"
)

// errMetadataUnusable: a table map's metadata does not account for every
// column, or names a collation the server does not list. The event is then
// decoded as one without metadata would be.
var errMetadataUnusable = errors.New("table map metadata unusable")

// mapShape builds the shape a table-map event with column names describes:
// the table as it was when the rows after it were written, whatever it has
// become since. Everything the decoder and the encoder need is in the event
// (types, lengths, precision and scale, fractional seconds, nullability,
// signedness, character sets, primary key); a column of a type the relay
// cannot capture stops it for good, as information_schema's would.
func mapShape(db, name string, tm *mysql.TableMap, md *rowMetadata, charsetOf func(uint64) (string, bool), mariadb bool) (*tableInfo, error) {
	n := len(tm.Types)
	if len(md.names) != n || len(tm.Metadata) != n {
		return nil, fmt.Errorf("%w: %s.%s: %d names for %d columns", errMetadataUnusable, db, name, len(md.names), n)
	}
	unsigned, charColumns := columnClasses(tm, md, mariadb)
	collations, err := md.collations(len(charColumns))
	if err != nil {
		return nil, fmt.Errorf("%w: %s.%s: %v", errMetadataUnusable, db, name, err)
	}
	charsets := make([]string, n)
	for k, i := range charColumns {
		cs, ok := charsetOf(collations[k])
		if !ok {
			return nil, fmt.Errorf("%w: %s.%s: column %s has collation id %d, which the server does not list", errMetadataUnusable, db, name, md.names[i], collations[k])
		}
		charsets[i] = cs
	}
	specs := make([]columnSpec, n)
	for i, typ := range tm.Types {
		specs[i] = mapColumn(md.names[i], typ, tm.Metadata[i], unsigned[i], charsets[i])
		specs[i].col.Nullable = tm.CanBeNull.Bit(i)
	}
	return newTableInfo(db, name, specs, md.primaryKey)
}

// columnClasses says which columns are UNSIGNED, and which are the
// character columns the metadata lists character sets for (ENUM and SET
// have their own list). The signedness bits count numeric columns only;
// MariaDB counts YEAR among them, MySQL does not.
func columnClasses(tm *mysql.TableMap, md *rowMetadata, mariadb bool) (unsigned []bool, charColumns []int) {
	unsigned = make([]bool, len(tm.Types))
	numeric := 0
	for i, typ := range tm.Types {
		switch typ {
		case binlog.TypeTiny, binlog.TypeShort, binlog.TypeInt24, binlog.TypeLong, binlog.TypeLongLong,
			binlog.TypeNewDecimal, binlog.TypeFloat, binlog.TypeDouble:
			unsigned[i] = md.unsigned(numeric)
			numeric++
		case binlog.TypeYear:
			if mariadb {
				numeric++
			}
		case binlog.TypeVarchar, binlog.TypeVarString, binlog.TypeBlob:
			charColumns = append(charColumns, i)
		case binlog.TypeString:
			if rt := stringRealType(tm.Metadata[i]); rt != binlog.TypeEnum && rt != binlog.TypeSet {
				charColumns = append(charColumns, i)
			}
		}
	}
	return unsigned, charColumns
}

// stringRealType is what a MYSQL_TYPE_STRING column really is (CHAR or
// BINARY, ENUM, SET): its metadata's first byte, with two bits of a long
// CHAR's length folded into it (MySQL bug #37426).
func stringRealType(meta uint16) byte {
	b := byte(meta >> 8)
	if b&0x30 != 0x30 {
		return b | 0x30
	}
	return b
}

// stringLength is the byte length of a CHAR or BINARY column.
func stringLength(meta uint16) int {
	return int((((meta >> 4) & 0x300) ^ 0x300) + (meta & 0xff))
}

// blobPrefixes name TINY, plain, MEDIUM and LONG BLOB/TEXT by the bytes of
// their length prefix.
var blobPrefixes = [...]string{"tiny", "", "medium", "long"}

// mapColumn describes a table-map column as information_schema would, so
// both sources of a shape decode and encode alike. Types the relay cannot
// capture get their name, for columnDecoding to refuse.
func mapColumn(name string, typ byte, meta uint16, unsigned bool, charset string) columnSpec {
	col := relay.Column{Name: name, Unsigned: unsigned}
	binary := charset == "binary"
	textOr := func(text, bytes string) string {
		if binary {
			return bytes
		}
		return text
	}
	columnType := ""
	switch typ {
	case binlog.TypeTiny:
		col.Type = "tinyint"
	case binlog.TypeShort:
		col.Type = "smallint"
	case binlog.TypeInt24:
		col.Type = "mediumint"
	case binlog.TypeLong:
		col.Type = "int"
	case binlog.TypeLongLong:
		col.Type = "bigint"
	case binlog.TypeFloat:
		col.Type = "float"
	case binlog.TypeDouble:
		col.Type = "double"
	case binlog.TypeNewDecimal:
		col.Type, col.Precision, col.Scale = "decimal", int(meta>>8), int(meta&0xff)
	case binlog.TypeBit:
		col.Type, col.Width = "bit", int(meta>>8)*8+int(meta&0xff)
	case binlog.TypeYear:
		col.Type = "year"
	case binlog.TypeDate, binlog.TypeNewDate:
		col.Type = "date"
	case binlog.TypeDateTime, binlog.TypeDateTime2:
		col.Type, col.Scale = "datetime", fractionalDigits(typ, meta)
	case binlog.TypeTimestamp, binlog.TypeTimestamp2:
		col.Type, col.Scale = "timestamp", fractionalDigits(typ, meta)
	case binlog.TypeTime, binlog.TypeTime2:
		col.Type, col.Scale = "time", fractionalDigits(typ, meta)
	case binlog.TypeVarchar, binlog.TypeVarString:
		col.Type = textOr("varchar", "varbinary")
	case binlog.TypeString:
		switch stringRealType(meta) {
		case binlog.TypeEnum:
			col.Type = "enum"
		case binlog.TypeSet:
			col.Type = "set"
		default:
			col.Type = textOr("char", "binary")
			if binary {
				// The decoder pads BINARY(n) values to n bytes, as the
				// server stores them, only when told it is BINARY.
				columnType = "binary(" + strconv.Itoa(stringLength(meta)) + ")"
			}
		}
	case binlog.TypeBlob:
		prefix := "?"
		if meta >= 1 && int(meta) <= len(blobPrefixes) {
			prefix = blobPrefixes[meta-1]
		}
		col.Type = textOr(prefix+"text", prefix+"blob")
	case binlog.TypeJSON:
		col.Type = "json"
	case binlog.TypeGeometry:
		col.Type = "geometry"
	case binlog.TypeEnum:
		col.Type = "enum"
	case binlog.TypeSet:
		col.Type = "set"
	default:
		col.Type = "binlog type " + strconv.Itoa(int(typ))
	}
	if columnType == "" {
		columnType = col.Type
		if unsigned {
			columnType += " unsigned"
		}
	}
	return columnSpec{col: col, columnType: columnType, charset: charset}
}

// fractionalDigits of a temporal column: the metadata of the MySQL 5.6+
// forms; the old ones have none.
func fractionalDigits(typ byte, meta uint16) int {
	switch typ {
	case binlog.TypeDateTime2, binlog.TypeTimestamp2, binlog.TypeTime2:
		return int(meta)
	}
	return 0
}

// loadCollations maps the server's collation ids to their character sets.
func loadCollations(c *mysql.Conn) (map[uint64]string, error) {
	out := map[uint64]string{}
	add := func(query string) error {
		qr, err := c.ExecuteFetch(query, 1<<16, false)
		if err != nil {
			return err
		}
		for _, r := range qr.Rows {
			id, err := strconv.ParseUint(r[0].ToString(), 10, 64)
			if err == nil {
				out[id] = r[1].ToString()
			}
		}
		return nil
	}
	if err := add("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL"); err != nil {
		return nil, fmt.Errorf("read the server's collations: %w", err)
	}
	// MariaDB 10.10+ lists a collation shared by several character sets
	// (the UCA 14.0.0 ones) once in COLLATIONS; each id is here. Older
	// servers and MySQL have no ID column there.
	err := add("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
	if err != nil && sqlCode(err) != sqlerror.ERBadFieldError {
		return nil, fmt.Errorf("read the server's collations: %w", err)
	}
	return out, nil
}
