package binlog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"vitess.io/vitess/go/mysql"

	"github.com/gintoki/gintoki/usecase/relay"
)

// Table-map event bodies (common header and checksum cut off) as MariaDB
// 10.11 wrote them with binlog_row_metadata=FULL, for
//
//	CREATE TABLE t (id BIGINT NOT NULL, neg BIGINT, ubig BIGINT UNSIGNED, i INT, us SMALLINT UNSIGNED,
//	  dec1 DECIMAL(10,2) UNSIGNED, f FLOAT, vc VARCHAR(20) CHARACTER SET utf8mb4, ch CHAR(4) CHARACTER SET latin1,
//	  vb VARBINARY(8), bl BLOB, tx TEXT CHARACTER SET utf8mb3, e ENUM('a','b'), st SET('x','y'), b10 BIT(10),
//	  dt6 DATETIME(6), js JSON, u UUID, PRIMARY KEY (id, i))
//
// and
//
//	CREATE TABLE t2 (y YEAR, b BIT(3), d DOUBLE, tm TIME(3), dt DATETIME, ts TIMESTAMP(2) NULL, da DATE,
//	  u INT UNSIGNED, tt TINYTEXT, mt MEDIUMTEXT, lb LONGBLOB, tb TINYBLOB, vcl VARCHAR(300) CHARACTER SET latin1,
//	  chb CHAR(200) CHARACTER SET utf8mb4, mi MEDIUMINT UNSIGNED, ti TINYINT)
//
// The same bytes seed FuzzReadTableMapMetadata (testdata/fuzz).
const (
	mariaTableMap  = "6500000000000100066578705f6d6400017400120808080302f6040ffe0ffcfcfefe1012fcfe150a02045000fe0408000202f701f80102010604fe10f6ff0301012c03072d083f3f212e3f0439026964036e6567047562696701690275730464656331016602766302636802766202626c02747801650273740362313003647436026a7301750a012d050502017801790605020161016208020003"
	mariaTableMap2 = "6600000000000100066578705f6d640002743200100d10051312110a03fcfcfcfc0ffe09010e030008030002010304012c01ce20ffff0101b003062d2d3f3f082d042e01790162016402746d0264740274730264610175027474026d74026c620274620376636c03636862026d69027469"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tableMapOf parses body as vitess does in the stream.
func tableMapOf(t *testing.T, body []byte) *mysql.TableMap {
	t.Helper()
	f := mysql.NewMariaDBBinlogFormat()
	ev := mysql.NewMariadbBinlogEvent(append(make([]byte, f.HeaderLength), body...))
	tm, err := ev.TableMap(f)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestReadTableMapMetadataOfMariaDB(t *testing.T) {
	md, columns, err := readTableMapMetadata(unhex(t, mariaTableMap), 6)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"id", "neg", "ubig", "i", "us", "dec1", "f", "vc", "ch", "vb", "bl", "tx", "e", "st", "b10", "dt6", "js", "u"}
	if columns != len(wantNames) || !reflect.DeepEqual(md.names, wantNames) {
		t.Fatalf("%d columns named %v", columns, md.names)
	}
	if !reflect.DeepEqual(md.primaryKey, []int{0, 3}) {
		t.Errorf("primary key %v, want [0 3]", md.primaryKey)
	}
	// The numeric columns, in order: id neg ubig i us dec1 f.
	var unsigned []bool
	for n := range 7 {
		unsigned = append(unsigned, md.unsigned(n))
	}
	if want := []bool{false, false, true, false, true, true, false}; !reflect.DeepEqual(unsigned, want) {
		t.Errorf("unsigned %v, want %v", unsigned, want)
	}
	// vc ch vb bl tx js u: ENUM and SET have their own list.
	got, err := md.collations(7)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{45, 8, 63, 63, 33, 46, 63}; !reflect.DeepEqual(got, want) {
		t.Errorf("collations %v, want %v", got, want)
	}
	if _, err := md.collations(6); err == nil {
		t.Error("seven character sets accepted for six character columns")
	}
}

var testCharsets = map[uint64]string{8: "latin1", 33: "utf8mb3", 45: "utf8mb4", 46: "utf8mb4", 63: "binary"}

func testCharsetOf(id uint64) (string, bool) {
	cs, ok := testCharsets[id]
	return cs, ok
}

// TestMapShapeOfMariaDBEvent: the shape a table map describes, column by
// column, as information_schema would give it for that table.
func TestMapShapeOfMariaDBEvent(t *testing.T) {
	body := unhex(t, mariaTableMap2)
	md, _, err := readTableMapMetadata(body, 6)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mapShape("exp_md", "t2", tableMapOf(t, body), md, testCharsetOf, true)
	if err != nil {
		t.Fatal(err)
	}
	got := describeColumns(info)
	want := []string{"y year", "b bit(3)", "d double", "tm time(3)", "dt datetime", "ts timestamp(2)", "da date",
		"u int unsigned", "tt tinytext", "mt mediumtext", "lb longblob", "tb tinyblob", "vcl varchar latin1", "chb char",
		"mi mediumint unsigned", "ti tinyint"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns\n got %q\nwant %q", got, want)
	}
	if len(info.table.Key) != 0 {
		t.Errorf("key %v for a table without one", info.table.Key)
	}
	// MySQL does not count YEAR among the numeric columns: read so, the
	// signedness bits land on other columns.
	asMySQL, err := mapShape("exp_md", "t2", tableMapOf(t, body), md, testCharsetOf, false)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(describeColumns(asMySQL), want) {
		t.Error("the server flavour does not change how signedness is read")
	}
}

// describeColumns writes a shape's columns as describe does.
func describeColumns(info *tableInfo) []string { return describe(info.table.Columns, info.latin1) }

// describe writes columns as name, type, width or precision and scale,
// signedness, and latin1 where marked.
func describe(cols []relay.Column, latin1 []bool) []string {
	var out []string
	for i, c := range cols {
		s := c.Name + " " + c.Type
		switch {
		case c.Width > 0:
			s += fmt.Sprintf("(%d)", c.Width)
		case c.Precision > 0:
			s += fmt.Sprintf("(%d,%d)", c.Precision, c.Scale)
		case c.Scale > 0:
			s += fmt.Sprintf("(%d)", c.Scale)
		}
		if c.Unsigned {
			s += " unsigned"
		}
		if i < len(latin1) && latin1[i] {
			s += " latin1"
		}
		out = append(out, s)
	}
	return out
}

// TestMapShapeRefusesWhatTheRelayCannotCapture: ENUM and SET columns stop
// the relay, as they do when read from information_schema.
func TestMapShapeRefusesWhatTheRelayCannotCapture(t *testing.T) {
	body := unhex(t, mariaTableMap)
	md, _, err := readTableMapMetadata(body, 6)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mapShape("exp_md", "t", tableMapOf(t, body), md, testCharsetOf, true)
	if err == nil || !strings.Contains(err.Error(), "column e has type enum") {
		t.Fatalf("mapShape: %v; want the ENUM column refused", err)
	}
	// A collation the server does not list: decode as without metadata.
	_, err = mapShape("exp_md", "t", tableMapOf(t, body), md, func(uint64) (string, bool) { return "", false }, true)
	if !errors.Is(err, errMetadataUnusable) {
		t.Fatalf("unknown collation: %v", err)
	}
}

func TestReadOptionalMetadataFields(t *testing.T) {
	// DEFAULT_CHARSET 45 with column 2 in collation 8 (latin1), three
	// names, a field type this relay does not know (200), a primary key
	// with a prefix length.
	block := []byte{
		2, 3, 45, 2, 8,
		4, 6, 1, 'a', 1, 'b', 1, 'c',
		200, 2, 0xff, 0xff,
		9, 2, 1, 10,
	}
	md, err := readOptionalMetadata(block, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := md.collations(3)
	if err != nil || !reflect.DeepEqual(got, []uint64{45, 45, 8}) {
		t.Errorf("collations %v %v, want [45 45 8]", got, err)
	}
	if !reflect.DeepEqual(md.names, []string{"a", "b", "c"}) || !reflect.DeepEqual(md.primaryKey, []int{1}) {
		t.Errorf("names %v key %v", md.names, md.primaryKey)
	}
	for _, bad := range [][]byte{
		{4, 6, 1, 'a', 1, 'b'},          // field longer than the block
		{4, 4, 1, 'a', 1, 'b'},          // two names for three columns
		{8, 1, 3},                       // key column out of range
		{3, 3, 252, 1},                  // packed integer cut short
		{2, 1, 251},                     // NULL marker
		{4, 5, 1, 'a', 1, 'b', 5},       // name longer than its field
		{2, 3, 45, 254, 0},              // exception index cut short
		{2, 10, 45, 253, 0, 0, 1, 1, 1}, // exception index beyond any table
	} {
		if _, err := readOptionalMetadata(bad, 3); err == nil {
			t.Errorf("block % x accepted", bad)
		}
	}
	if md, err := readOptionalMetadata(nil, 3); err != nil || md.hasNames() {
		t.Errorf("no block: %+v %v", md, err)
	}
}

// FuzzReadTableMapMetadata: no event body, however malformed, panics the
// reader or makes it claim more than the event holds.
func FuzzReadTableMapMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		md, columns, err := readTableMapMetadata(body, 6)
		if err != nil {
			return
		}
		if columns > maxMetadataColumnCount || columns > len(body) {
			t.Fatalf("%d columns from %d bytes", columns, len(body))
		}
		if md.names != nil && len(md.names) != columns {
			t.Fatalf("%d names for %d columns", len(md.names), columns)
		}
		for _, k := range md.primaryKey {
			if k < 0 || k >= columns {
				t.Fatalf("key column %d of %d", k, columns)
			}
		}
		if cs, err := md.collations(columns); err == nil && cs != nil && len(cs) != columns {
			t.Fatalf("%d collations for %d character columns", len(cs), columns)
		}
		_ = md.unsigned(columns)
	})
}
