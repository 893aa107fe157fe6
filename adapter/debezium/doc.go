// Package debezium reads and writes Debezium MySQL change events as the Kafka
// JsonConverter puts them in message keys and values.
//
// Decoding takes a value in any of the forms a deployment can produce (with or
// without the schema/payload wrapper, or flattened by ExtractNewRecordState)
// and tells them apart by itself. Which tables and columns it reads is a
// domain.Mapping's (NewDecoder); the package functions read the project's
// own tables. The JSON syntax is the library's (see
// adapter/internal/jsonwalk); the Debezium rules are the member methods of
// the structs a message is read into. Integers never pass through float64.
// Encoding writes what Debezium's MySQL connector writes, with one RowCodec
// per table, for the relay, the demo's change simulator and tests. The
// fixtures under testdata come from Debezium's documentation.
package debezium
