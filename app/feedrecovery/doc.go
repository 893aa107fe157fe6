// Package feedrecovery proves, on the real change path, what a read node
// does when its feed breaks in the ways that used to leave it wrong or
// stuck: the source dying before its first heartbeat reached the node, the
// broker coming back empty, a change topic deleted and created again, and
// retention deleting what the node was about to read. MariaDB (binlog on,
// a database of each test's own) -> `gintoki relay` -> a Kafka-protocol
// broker -> `gintoki serve`, all real processes (package rig), with a writer
// changing MariaDB throughout; each test ends with every product on every
// node equal to the database.
//
// The package has tests only.
package feedrecovery
