package debezium_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// Every change names its transaction and its place in it, whichever table
// and form it comes in: binlog order (a table without a version column)
// has nothing else to go by.
func TestChangesCarryTheirBinlogPosition(t *testing.T) {
	const source = `{"db":"inventory","gtid":"0-1-4711","file":"mysql-bin.000003","pos":805,"row":2}`
	const flat = `"__source_gtid":"0-1-4711","__source_pos":805,"__source_row":2`
	want, _ := domain.ParseGTID("0-1-4711")
	sub := domain.SubOf(805, 2)
	envelope := func(op, before, after string) string {
		return `{"before":` + before + `,"after":` + after + `,"source":` + source + `,"op":"` + op + `"}`
	}
	forms := func(op, row string) map[string]string {
		before, after := "null", row
		if op == "d" {
			before, after = row, "null"
		}
		return map[string]string{
			"bare": envelope(op, before, after), "wrapped": wrappedEvent(envelope(op, before, after)),
			"flattened": flatRow(row, `"__op":"`+op+`",`+flat), "flattened wrapped": wrappedEvent(flatRow(row, `"__op":"`+op+`",`+flat)),
		}
	}
	for _, op := range []string{"c", "u", "d", "r"} {
		for form, value := range forms(op, stockRow1) {
			c, err := debezium.DecodeStock([]byte(value))
			if err != nil || c.GTID != want || c.Sub != sub {
				t.Errorf("stock %s %s: %+v, %v", op, form, c, err)
			}
		}
		for form, value := range forms(op, warehouseRow) {
			c, err := debezium.DecodeWarehouse([]byte(value))
			if err != nil || c.GTID != want || c.Sub != sub {
				t.Errorf("warehouse %s %s: %+v, %v", op, form, c, err)
			}
		}
	}
	for _, value := range []string{`{"op":"t","source":` + source + `}`, wrappedEvent(`{"op":"t","source":` + source + `}`)} {
		if c, err := debezium.DecodeStock([]byte(value)); err != nil || c.GTID != want || c.Sub != sub {
			t.Errorf("stock truncate: %+v, %v", c, err)
		}
		if c, err := debezium.DecodeWarehouse([]byte(value)); err != nil || c.GTID != want || c.Sub != sub {
			t.Errorf("warehouse truncate: %+v, %v", c, err)
		}
	}
	// Without a transaction there is no place in one.
	noGTID := strings.Replace(envelope("u", "null", stockRow1), `"0-1-4711"`, "null", 1)
	if c, err := debezium.DecodeStock([]byte(noGTID)); err != nil || c.GTID.Known() || c.Sub != 0 {
		t.Errorf("no gtid: %+v, %v", c, err)
	}
	// A position a binlog cannot have is poison, not a wrong place.
	for _, pos := range []string{"-1", "281474976710656"} {
		bad := strings.Replace(envelope("u", "null", stockRow1), `"pos":805`, `"pos":`+pos, 1)
		if _, err := debezium.DecodeStock([]byte(bad)); err == nil || err.Error() != "stock_items event: source.pos: out of range" ||
			!errors.Is(err, debezium.ErrMalformed) {
			t.Errorf("pos %s: %v", pos, err)
		}
	}
}
