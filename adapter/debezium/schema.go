package debezium

// The Kafka Connect schemas written by the encoder when withSchema is set.
// Decoding ignores schemas, so these exist for consumers that read them
// (kcat, Connect sinks) and to make the simulated feed look like the real one.

// column is a table column as Debezium's MySQL connector describes it with
// its default settings.
type column struct {
	name     string
	typ      string // Connect type: int8, int32, int64, string, ...
	optional bool
	logical  string      // Connect logical type name, "" for none
	params   [][2]string // logical type parameters (DECIMAL scale, BIT length)
}

// table holds a table's default name and its columns, primary key first.
type table struct {
	name    string
	columns []column
}

// microTimestamp is how DATETIME(4..6) arrives under the default
// time.precision.mode=adaptive_time_microseconds: int64 epoch microseconds.
const microTimestamp = "io.debezium.time.MicroTimestamp"

var stockTable = table{name: "stock_items", columns: []column{
	{name: colProductID, typ: "int64"},
	{name: colWarehouseID, typ: "int64"},
	{name: colQtySalable, typ: "int32"},
	{name: colVersion, typ: "int64"}, // BIGINT UNSIGNED under bigint.unsigned.handling.mode=long
	{name: colUpdatedAt, typ: "int64", logical: microTimestamp},
}}

var warehouseTable = table{name: "warehouses", columns: []column{
	{name: colID, typ: "int64"},
	{name: colCode, typ: "string"},
	{name: colName, typ: "string", optional: true},
	{name: colIsActive, typ: "int8"}, // TINYINT(1) without the boolean converter
	{name: colVersion, typ: "int64"},
	{name: colUpdatedAt, typ: "int64", logical: microTimestamp},
}}

// sourceSchema is io.debezium.connector.mysql.Source: the common source
// fields (SchemaFactory.sourceInfoSchemaBuilder) then the binlog ones.
const sourceSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,` +
	`"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},` +
	`"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},` +
	`{"type":"string","optional":true,"field":"sequence"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"},` +
	`{"type":"string","optional":true,"field":"table"},` +
	`{"type":"int64","optional":false,"field":"server_id"},` +
	`{"type":"string","optional":true,"field":"gtid"},` +
	`{"type":"string","optional":false,"field":"file"},` +
	`{"type":"int64","optional":false,"field":"pos"},` +
	`{"type":"int32","optional":false,"field":"row"},` +
	`{"type":"int64","optional":true,"field":"thread"},` +
	`{"type":"string","optional":true,"field":"query"}` +
	`],"optional":false,"name":"io.debezium.connector.mysql.Source","version":1,"field":"source"}`

// envelopeTail is the rest of the envelope schema after source: op, the
// processing timestamps and the transaction block.
const envelopeTail = `{"type":"string","optional":false,"field":"op"},` +
	`{"type":"int64","optional":true,"field":"ts_ms"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"},` +
	`{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

// schemaName is "<topic.prefix>.<db>.<table>.<suffix>", the name Debezium
// gives a table's Key, Value and Envelope schemas; "" when src names nothing.
func schemaName(src Source, t table, suffix string) string {
	if src.Name == "" && src.DB == "" && src.Table == "" {
		return ""
	}
	tbl := src.Table
	if tbl == "" {
		tbl = t.name
	}
	name := ""
	for _, part := range [...]string{src.Name, src.DB, tbl, suffix} {
		if part == "" {
			continue
		}
		if name != "" {
			name += "."
		}
		name += part
	}
	return name
}

func appendEnvelopeSchema(b []byte, src Source, t table) []byte {
	value := schemaName(src, t, "Value")
	b = append(b, `{"type":"struct","fields":[`...)
	b = appendStructSchema(b, t.columns, true, value, "before")
	b = append(b, ',')
	b = appendStructSchema(b, t.columns, true, value, "after")
	b = append(b, ',')
	b = append(b, sourceSchema...)
	b = append(b, ',')
	b = append(b, envelopeTail...)
	b = append(b, `],"optional":false`...)
	if name := schemaName(src, t, "Envelope"); name != "" {
		b = append(b, `,"name":`...)
		b = appendQuoted(b, name)
	}
	return append(b, `,"version":2}`...)
}

// appendStructSchema writes a struct schema of cols; name and field are left
// out when empty.
func appendStructSchema(b []byte, cols []column, optional bool, name, field string) []byte {
	b = append(b, `{"type":"struct","fields":[`...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, c.typ...)
		b = append(b, `","optional":`...)
		b = appendBool(b, c.optional)
		if c.logical != "" {
			b = append(b, `,"name":"`...)
			b = append(b, c.logical...)
			b = append(b, `","version":1`...)
		}
		if len(c.params) > 0 {
			b = append(b, `,"parameters":{`...)
			for j, p := range c.params {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendQuoted(b, p[0])
				b = append(b, ':')
				b = appendQuoted(b, p[1])
			}
			b = append(b, '}')
		}
		b = append(b, `,"field":`...)
		b = appendQuoted(b, c.name)
		b = append(b, '}')
	}
	b = append(b, `],"optional":`...)
	b = appendBool(b, optional)
	if name != "" {
		b = append(b, `,"name":`...)
		b = appendQuoted(b, name)
	}
	if field != "" {
		b = append(b, `,"field":`...)
		b = appendQuoted(b, field)
	}
	return append(b, '}')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}
