package debezium

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Source is the source block of an encoded event. Empty Connector means
// "mysql", empty Snapshot "false"; empty Table and GTID and a zero Thread are
// null, as Debezium writes them for snapshot rows.
type Source struct {
	Version, Connector, Name, DB, Table string
	ServerID                            int64
	File                                string
	Pos                                 int64
	Row                                 int
	TsMs                                int64
	Snapshot                            string
	GTID                                string
	Thread                              int64
}

// maxTsMs keeps ts_ns (= ts_ms * 10^6) inside an int64.
const maxTsMs = math.MaxInt64 / 1_000_000

// sourceFields are the members of the source block and their Connect
// schemas (io.debezium.connector.mysql.Source), in Debezium's order.
var sourceFields = [...]struct {
	name, schema string
	write        func(b []byte, s *Source) []byte
}{
	{"version", `"type":"string","optional":false`, func(b []byte, s *Source) []byte { return jsonstr.Append(b, s.Version) }},
	{"connector", `"type":"string","optional":false`, func(b []byte, s *Source) []byte { return jsonstr.Append(b, cmp.Or(s.Connector, "mysql")) }},
	{"name", `"type":"string","optional":false`, func(b []byte, s *Source) []byte { return jsonstr.Append(b, s.Name) }},
	{"ts_ms", `"type":"int64","optional":false`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, s.TsMs, 10) }},
	{"snapshot", `"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,` +
		`"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false"`,
		func(b []byte, s *Source) []byte { return jsonstr.Append(b, cmp.Or(s.Snapshot, "false")) }},
	{"db", `"type":"string","optional":false`, func(b []byte, s *Source) []byte { return jsonstr.Append(b, s.DB) }},
	{"sequence", `"type":"string","optional":true`, func(b []byte, s *Source) []byte { return append(b, "null"...) }},
	{"ts_us", `"type":"int64","optional":true`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, s.TsMs*1_000, 10) }},
	{"ts_ns", `"type":"int64","optional":true`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, s.TsMs*1_000_000, 10) }},
	{"table", `"type":"string","optional":true`, func(b []byte, s *Source) []byte { return appendNullable(b, s.Table) }},
	{"server_id", `"type":"int64","optional":false`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, s.ServerID, 10) }},
	{"gtid", `"type":"string","optional":true`, func(b []byte, s *Source) []byte { return appendNullable(b, s.GTID) }},
	{"file", `"type":"string","optional":false`, func(b []byte, s *Source) []byte { return jsonstr.Append(b, s.File) }},
	{"pos", `"type":"int64","optional":false`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, s.Pos, 10) }},
	{"row", `"type":"int32","optional":false`, func(b []byte, s *Source) []byte { return strconv.AppendInt(b, int64(s.Row), 10) }},
	{"thread", `"type":"int64","optional":true`, func(b []byte, s *Source) []byte {
		if s.Thread == 0 {
			return append(b, "null"...)
		}
		return strconv.AppendInt(b, s.Thread, 10)
	}},
	{"query", `"type":"string","optional":true`, func(b []byte, s *Source) []byte { return append(b, "null"...) }},
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonstr.Append(b, s)
}
func appendSource(b []byte, src *Source) []byte {
	for i, f := range sourceFields {
		b = append(b, ',')
		if i == 0 {
			b[len(b)-1] = '{'
		}
		b = f.write(append(b, `"`+f.name+`":`...), src)
	}
	return append(b, '}')
}

// sourceSchema is the source block's schema; envelopeTail the envelope's
// after it.
var sourceSchema = func() string {
	var fields []string
	for _, f := range sourceFields {
		fields = append(fields, `{`+f.schema+`,"field":"`+f.name+`"}`)
	}
	return `{"type":"struct","fields":[` + strings.Join(fields, ",") + `],"optional":false,"name":"io.debezium.connector.mysql.Source","version":1,"field":"source"}`
}()

const envelopeTail = `{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

// checkImages enforces which row images an operation carries, so a caller's
// bug is not written as an event Debezium would never write.
func checkImages(op domain.Op, hasBefore, hasAfter bool) error {
	switch {
	case op != domain.OpCreate && op != domain.OpRead && op != domain.OpUpdate && op != domain.OpDelete && op != domain.OpTruncate:
		return fmt.Errorf("unknown op %q", string(rune(op)))
	case (op == domain.OpCreate || op == domain.OpRead) && (hasBefore || !hasAfter):
		return fmt.Errorf("op %q takes an after-image only", string(rune(op)))
	case op == domain.OpUpdate && !hasAfter:
		return errors.New(`op "u" needs an after-image`)
	case op == domain.OpDelete && (!hasBefore || hasAfter):
		return errors.New(`op "d" takes a before-image only`)
	case op == domain.OpTruncate && (hasBefore || hasAfter):
		return errors.New(`op "t" carries no row`)
	}
	return nil
}

// StockItems and Warehouses are the shapes of the two tables Gintoki
// caches (docs/DESIGN.md §1), without a database name; the simulator publishes its
// rows as the relay would.
var (
	StockItems = relay.Table{Name: "stock_items", Key: []int{0, 1}, Columns: []relay.Column{
		{Name: "product_id", Type: "bigint"}, {Name: "warehouse_id", Type: "bigint"}, {Name: "qty_salable", Type: "int"},
		{Name: "version", Type: "bigint", Unsigned: true}, {Name: "updated_at", Type: "datetime", Scale: 6},
	}}
	Warehouses = relay.Table{Name: "warehouses", Key: []int{0}, Columns: []relay.Column{
		{Name: "id", Type: "bigint"}, {Name: "code", Type: "varchar"}, {Name: "name", Type: "varchar", Nullable: true},
		{Name: "is_active", Type: "tinyint"}, {Name: "version", Type: "bigint", Unsigned: true},
		{Name: "updated_at", Type: "datetime", Scale: 6},
	}}
)

// StockImage is r as a binlog row image of StockItems (MySQL's text of each
// column), updated_at at updatedAtMicros.
func StockImage(r *domain.StockRow, updatedAtMicros int64) (relay.Row, error) {
	if r.ProductID <= 0 || r.WarehouseID <= 0 {
		return nil, fmt.Errorf("ids must be positive, got product_id %d, warehouse_id %d", r.ProductID, r.WarehouseID)
	}
	return relay.Row{itoa(r.ProductID), itoa(r.WarehouseID), itoa(int64(r.QtySalable)),
		strconv.AppendUint(nil, r.Version, 10), datetime(updatedAtMicros)}, nil
}

func itoa(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

// datetime is MySQL's text of a DATETIME(6) at epoch micros.
func datetime(micros int64) []byte {
	return time.UnixMicro(micros).UTC().AppendFormat(nil, "2006-01-02 15:04:05.000000")
}

// HeartbeatTopic is where Debezium sends a connector's heartbeats (with the
// default topic.heartbeat.prefix).
func HeartbeatTopic(prefix string) string { return "__debezium-heartbeat." + prefix }

// EncodeHeartbeat returns a heartbeat record as Debezium writes it, for
// partition 0 of HeartbeatTopic(prefix): key {"serverName":prefix}, value
// {"ts_ms":tsMs}, each in the schema/payload wrapper withSchema.
func EncodeHeartbeat(prefix string, tsMs int64, withSchema bool) (key, value []byte) {
	return EncodePositionHeartbeat(prefix, tsMs, withSchema, nil)
}
