package binlog

import (
	"fmt"
	"strconv"

	"golang.org/x/text/encoding/charmap"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/binlog"

	"github.com/gintoki/gintoki/usecase/relay"
)

// decodeImage turns one binary row image into text values. present says
// which columns the image holds (all of them with binlog_row_image=FULL),
// nulls which of those are NULL (indexed by present column). Columns the
// image lacks come out as NULL and are reported in missing.
func decodeImage(info *tableInfo, tm *mysql.TableMap, present, nulls mysql.Bitmap, data []byte) (row relay.Row, missing int, err error) {
	defer func() {
		// vitess panics on JSON it cannot parse; one bad value must not
		// take the process down.
		if r := recover(); r != nil {
			row, err = nil, fmt.Errorf("decode a row of %s.%s: %v", info.table.DB, info.table.Name, r)
		}
	}()
	n := len(info.table.Columns)
	row = make(relay.Row, n)
	pos, valueIndex := 0, 0
	for c := 0; c < present.Count() && c < n; c++ {
		if !present.Bit(c) {
			missing++
			continue
		}
		if nulls.Bit(valueIndex) {
			valueIndex++
			continue
		}
		v, size, err := binlog.CellValue(data, pos, tm.Types[c], tm.Metadata[c], info.fields[c], false)
		if err != nil {
			return nil, 0, fmt.Errorf("decode column %s of %s.%s: %w", info.table.Columns[c].Name, info.table.DB, info.table.Name, err)
		}
		pos += size
		valueIndex++
		raw := v.Raw()
		switch info.table.Columns[c].Type {
		case "float", "double", "real":
			// CellValue writes exponent form (1.5E+00); the text
			// protocol writes the shortest decimal (1.5).
			raw = shortestFloat(raw, info.table.Columns[c].Type == "float")
		}
		if info.latin1[c] {
			raw, err = latin1ToUTF8(raw)
			if err != nil {
				return nil, 0, fmt.Errorf("decode column %s of %s.%s: %w", info.table.Columns[c].Name, info.table.DB, info.table.Name, err)
			}
		} else if raw == nil {
			// An empty string is a value, not NULL.
			raw = []byte{}
		}
		row[c] = raw
	}
	missing += n - min(present.Count(), n)
	return row, missing, nil
}

func shortestFloat(raw []byte, single bool) []byte {
	bits := 64
	if single {
		bits = 32
	}
	f, err := strconv.ParseFloat(string(raw), bits)
	if err != nil {
		return raw
	}
	return strconv.AppendFloat(nil, f, 'g', -1, bits)
}

// latin1ToUTF8 converts MySQL's latin1 (Windows-1252) text, which the
// binlog carries as stored, into the UTF-8 a utf8mb4 connection would read.
func latin1ToUTF8(b []byte) ([]byte, error) {
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("latin1 text: %w", err)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}
