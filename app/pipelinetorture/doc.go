// Package pipelinetorture holds the consistency torture of the real change
// pipeline: MariaDB (binlog on) -> `gintoki relay` -> a Kafka-protocol broker
// -> several `gintoki serve` read nodes, each a child process, while
// concurrent writers insert, update, delete and re-insert rows and change
// warehouses, readers watch every node for a row going back, and the relay,
// the nodes and the broker are killed or restarted under load. Afterwards
// every product on every node must equal the database.
//
// The package has tests only; `make soak` runs the same test at a million
// writes.
package pipelinetorture
