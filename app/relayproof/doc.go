// Package relayproof holds end-to-end tests of `gintoki relay` as a process
// (package rig: MariaDB with the binlog on, the relay and a `gintoki serve`
// read node as child processes, an in-process Kafka-protocol broker) where
// the relay's own lifecycle is the subject: tables altered while it is
// down, and a relay that stops for good.
//
// The package has tests only.
package relayproof
