// Package readafterproof holds end-to-end tests of reading your own writes
// on the real pipeline (package rig: MariaDB with the binlog on, `gintoki
// relay` and a `gintoki serve` read node as child processes, an in-process
// Kafka-protocol broker): the relay's heartbeats say how far it has
// published, and a read node answers a read with the writer's GTID from its
// cache once its feed has applied it, from the database when it cannot tell.
//
// The package has tests only.
package readafterproof
