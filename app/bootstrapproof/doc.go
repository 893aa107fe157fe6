// Package bootstrapproof holds the end-to-end proof of starting read nodes
// from the change topics (`serve --cache-bootstrap=topic`) on the real
// pipeline (package rig: MariaDB with the binlog on, `gintoki relay`, read
// nodes and `gintoki gateway` as child processes, an in-process
// Kafka-protocol broker): a node builds its cache from the topics and is
// ready without one statement reaching the database, answers exactly what
// the database holds, starts and answers with the database unreachable,
// and a fleet restarts under load without a failed request or a query.
//
// Each node reaches MariaDB through a proxy of its own (dbtest.CutProxy),
// which counts the statements the node sends and can cut it off: the
// count is the database's side of the story, not the node's.
//
// The package has tests only.
package bootstrapproof
