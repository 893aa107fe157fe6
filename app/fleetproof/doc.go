// Package fleetproof proves what a fleet of read nodes promises under a
// steady request rate while its parts fail one at a time: MariaDB (binlog
// on) -> `gintoki relay` -> a Kafka-protocol broker -> two `gintoki serve`
// nodes -> `gintoki gateway`, all real processes on real sockets (package
// rig), with writers changing MariaDB throughout. The scenarios: a rolling
// restart of every node, the broker away for longer than --max-staleness, a
// frozen source (the relay SIGSTOPped), and a node SIGKILLed and left down.
// Each logs its numbers; scripts/fleet-proof.sh (make fleet-proof) runs it
// and prints them.
//
// The package has tests only.
package fleetproof
