// Package relay is Gintoki's change-data capture: it reads row changes from
// the MySQL/MariaDB binlog (through a Source), hands them to Kafka (through a
// Publisher) and remembers how far it got (through a CheckpointStore).
//
// Delivery is at least once. The binlog position is checkpointed only after
// Kafka has acknowledged every change before it, and only at a transaction
// boundary (a position a binlog dump can be restarted from). After a crash
// the relay restarts at the last checkpoint and sends again whatever was
// published after it; consumers already tolerate duplicates (they apply a
// change only when its row version is newer).
//
// Where the checkpoint lives is the store's business; the relay's own store
// (adapter/relaycheckpoint) keeps it in a compacted Kafka topic, like
// Debezium's offset topic, so the relay needs no write privilege on the
// source database and the checkpoint lives and dies with the topics it
// describes.
//
// Start-up: without a checkpoint, SnapshotInitial first publishes every
// existing row as op "r", read in one consistent snapshot whose binlog
// position is where streaming then continues; SnapshotNever starts at the
// current end of the binlog. A checkpoint whose binlog file the server has
// purged cannot be resumed: SnapshotWhenNeeded takes a new snapshot, the
// other modes stop with a PurgedError that says so.
//
// Failures of MySQL or Kafka end the current session; the relay reconnects
// with exponential backoff and resumes from the last acknowledged position.
// Errors the Source marks Permanent (missing privileges, binlog settings,
// unsupported columns) stop the relay instead.
package relay
