// Package debezium reads and writes Debezium MySQL change events as the Kafka
// JsonConverter puts them in message keys and values.
//
// Decoding takes a value in any of the forms a deployment can produce (with or
// without the schema/payload wrapper, or flattened by ExtractNewRecordState)
// and tells them apart by itself, so the consumer needs no setting for it. It
// runs on the change-feed hot path: a hand-written scanner pulls the needed
// members in place instead of building maps, integers never pass through
// float64, and a stock_items event decodes without allocating.
//
// Encoding writes the exact envelope Debezium's MySQL connector writes, for
// the demo's change simulator, tests and the relay.
//
// The fixtures under testdata come from Debezium's documentation; their
// README names the sources.
package debezium
