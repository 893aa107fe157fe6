package debezium

import (
	"testing"

	"github.com/gintoki/gintoki/domain"
)

// The transaction of a change is taken from source.gtid (MariaDB and MySQL
// forms); snapshot reads and servers without GTIDs leave it unknown.
func TestDecodeStockTakesTheGTID(t *testing.T) {
	for _, tc := range []struct{ gtid, want string }{
		{`"0-1-4711"`, "0-1-4711"},
		{`"3e11fa47-71ca-11e1-9e33-c80aa9429562:23"`, "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"},
		{`null`, ""},
	} {
		value := []byte(`{"before":null,"after":{"product_id":1,"warehouse_id":2,"qty_salable":3,"version":4,"updated_at":1},` +
			`"source":{"db":"inventory","table":"stock_items","gtid":` + tc.gtid + `},"op":"u","ts_ms":1}`)
		c, err := DecodeStock(value)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := domain.ParseGTID(tc.want)
		if c.GTID != want {
			t.Errorf("gtid %s decoded as %+v, want %+v", tc.gtid, c.GTID, want)
		}
	}
}
