package binlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// With binlog_row_metadata=FULL (MariaDB 10.5+, MySQL 8.0.1+) every
// TABLE_MAP event ends with an optional metadata block saying what the
// table looked like when the rows after it were written: column names,
// signedness, character sets, the primary key. vitess reads only the
// character sets out of it, so the relay reads the block itself.
//
// The block is a sequence of fields: a type byte, a packed length, that
// many bytes. The field types and their contents are MySQL's
// Table_map_log_event optional metadata (sql/log_event.h and
// libbinlogevents' rows_event.h), which MariaDB writes the same way.
const (
	metaSignedness         = 1
	metaDefaultCharset     = 2
	metaColumnCharset      = 3
	metaColumnName         = 4
	metaSimplePrimaryKey   = 8
	metaPrimaryKeyWithPfx  = 9
	maxMetadataColumnCount = 4096 // the most columns a MySQL or MariaDB table can have
)

// rowMetadata is what a table-map event's optional metadata says. Fields
// the server did not write stay nil.
type rowMetadata struct {
	// signedness holds a bit per numeric column, most significant bit
	// first; a set bit means UNSIGNED.
	signedness []byte
	// Character sets of the character columns (CHAR, VARCHAR, TEXT, BLOB,
	// BINARY...: not ENUM and SET), as collation ids: either one default
	// with exceptions, or one per column.
	defaultCollation uint64
	hasDefault       bool
	collationExcepts []collationAt
	columnCollations []uint64
	names            []string
	primaryKey       []int
}

// collationAt is an exception to the default character set: the index is
// among the character columns, not among all columns.
type collationAt struct {
	index     int
	collation uint64
}

// hasNames reports whether the event names the columns, which is what
// binlog_row_metadata=FULL adds to MINIMAL.
func (m *rowMetadata) hasNames() bool { return m != nil && m.names != nil }

// unsigned reports whether the n-th numeric column is UNSIGNED.
func (m *rowMetadata) unsigned(n int) bool {
	if n < 0 || n/8 >= len(m.signedness) {
		return false
	}
	return m.signedness[n/8]&(0x80>>(n%8)) != 0
}

// collations returns a collation id per character column, given how many
// there are, or an error when the metadata does not account for each.
func (m *rowMetadata) collations(charColumns int) ([]uint64, error) {
	switch {
	case m.columnCollations != nil:
		if len(m.columnCollations) != charColumns {
			return nil, fmt.Errorf("%d column character sets for %d character columns", len(m.columnCollations), charColumns)
		}
		return m.columnCollations, nil
	case m.hasDefault:
		out := make([]uint64, charColumns)
		for i := range out {
			out[i] = m.defaultCollation
		}
		for _, e := range m.collationExcepts {
			if e.index >= charColumns {
				return nil, fmt.Errorf("character set of character column %d of %d", e.index, charColumns)
			}
			out[e.index] = e.collation
		}
		return out, nil
	case charColumns == 0:
		return nil, nil
	}
	return nil, errors.New("no character sets for the character columns")
}

// errTableMap: the event is shorter than its own lengths say.
var errTableMap = errors.New("table map event truncated")

// metaReader walks an event body; the first overrun sets err and every
// later read returns zero values, so callers check once at the end.
type metaReader struct {
	b   []byte
	err error
}

func (r *metaReader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errTableMap
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *metaReader) byte() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// packed reads MySQL's packed integer (net_field_length): one byte below
// 251, else a marker for 2, 3 or 8 little-endian bytes. 251 (NULL) is not
// valid in a table map.
func (r *metaReader) packed() uint64 {
	first := r.byte()
	var n uint64
	switch {
	case first < 251:
		return uint64(first)
	case first == 252:
		n = 2
	case first == 253:
		n = 3
	case first == 254:
		n = 8
	default:
		if r.err == nil {
			r.err = fmt.Errorf("packed integer with marker byte %d", first)
		}
		return 0
	}
	var buf [8]byte
	copy(buf[:], r.take(n))
	return binary.LittleEndian.Uint64(buf[:])
}

// count reads a packed integer that counts or indexes columns.
func (r *metaReader) count() int {
	v := r.packed()
	if v > maxMetadataColumnCount {
		if r.err == nil {
			r.err = fmt.Errorf("column count or index %d beyond MySQL's %d", v, maxMetadataColumnCount)
		}
		return 0
	}
	return int(v)
}

// readTableMapMetadata reads the optional metadata of a table-map event
// body (the event without its common header and checksum). idLen is the
// table id's length (6, or 4 on ancient servers). An event without the
// block gives empty metadata; one whose block does not fit its own lengths
// an error.
func readTableMapMetadata(body []byte, idLen int) (*rowMetadata, int, error) {
	r := &metaReader{b: body}
	r.take(uint64(idLen) + 2) // table id, flags
	r.take(uint64(r.byte()) + 1)
	r.take(uint64(r.byte()) + 1)
	columns := r.count()
	r.take(uint64(columns))
	r.take(r.packed())
	r.take(uint64(columns+7) / 8)
	if r.err != nil {
		return nil, 0, fmt.Errorf("table map: %w", r.err)
	}
	m, err := readOptionalMetadata(r.b, columns)
	if err != nil {
		return nil, 0, fmt.Errorf("table map optional metadata: %w", err)
	}
	return m, columns, nil
}

// readOptionalMetadata reads the fields of the block; unknown field types
// (newer servers add some) are skipped by their length.
func readOptionalMetadata(block []byte, columns int) (*rowMetadata, error) {
	m := &rowMetadata{}
	r := &metaReader{b: block}
	for len(r.b) > 0 && r.err == nil {
		typ := r.byte()
		field := &metaReader{b: r.take(r.packed())}
		if r.err != nil {
			break
		}
		if err := m.readField(typ, field, columns); err != nil {
			return nil, fmt.Errorf("field %d: %w", typ, err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

func (m *rowMetadata) readField(typ byte, f *metaReader, columns int) error {
	switch typ {
	case metaSignedness:
		// A copy: the event's buffer is not the relay's to keep.
		m.signedness = bytes.Clone(f.take(uint64(len(f.b))))
	case metaDefaultCharset:
		m.hasDefault = true
		m.defaultCollation = f.packed()
		for len(f.b) > 0 && f.err == nil {
			e := collationAt{index: f.count()}
			e.collation = f.packed()
			m.collationExcepts = append(m.collationExcepts, e)
		}
	case metaColumnCharset:
		m.columnCollations = []uint64{}
		for len(f.b) > 0 && f.err == nil {
			m.columnCollations = append(m.columnCollations, f.packed())
		}
	case metaColumnName:
		m.names = make([]string, 0, columns)
		for len(f.b) > 0 && f.err == nil {
			m.names = append(m.names, string(f.take(f.packed())))
		}
		if f.err == nil && len(m.names) != columns {
			return fmt.Errorf("%d column names for %d columns", len(m.names), columns)
		}
	case metaSimplePrimaryKey, metaPrimaryKeyWithPfx:
		m.primaryKey = []int{}
		for len(f.b) > 0 && f.err == nil {
			i := f.count()
			if typ == metaPrimaryKeyWithPfx {
				f.packed() // the prefix length: the key is still the column
			}
			if i >= columns {
				return fmt.Errorf("primary key column %d of %d", i, columns)
			}
			m.primaryKey = append(m.primaryKey, i)
		}
	}
	return f.err
}
