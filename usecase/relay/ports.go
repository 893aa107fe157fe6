package relay

import (
	"context"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Source reads the database.
type Source interface {
	// Check verifies that the server is set up for change capture (binlog
	// on, ROW format, FULL row images), that the user holds the privileges
	// the relay needs and that the captured tables can be read. Its errors
	// say which setting or grant to change. Settings the relay works
	// without but is better with (binlog_row_metadata=FULL) are warned
	// about, not refused.
	Check(ctx context.Context) error
	// Current returns the end of the binlog: where a relay that skips the
	// existing rows starts.
	Current(ctx context.Context) (Position, error)
	// HasBinlog reports whether the server still holds the binlog file.
	HasBinlog(ctx context.Context, file string) (bool, error)
	// Snapshot reads every row of the captured tables in one consistent
	// read and calls emit for each, as op r placed as Change.At says, and
	// returns the binlog position the read is consistent with. Changes
	// committed after that position are not in the snapshot, and those
	// before it are.
	Snapshot(ctx context.Context, emit func(*Change) error) (Position, error)
	// Stream reads the binlog from a transaction boundary until ctx ends or
	// the connection fails, calling emit for every change of a captured
	// table, every transaction end, every heartbeat of the server (ItemHeartbeat,
	// stamped with the time it was heard), and once ItemStreaming when reading has
	// begun. It returns a *PurgedError when from's file is gone.
	Stream(ctx context.Context, from Position, emit func(Item) error) error
}

// Publisher writes changes to Kafka.
type Publisher interface {
	// Prepare readies the captured tables' change topics before anything
	// is published (the Kafka publisher creates those that are missing),
	// so that each exists, as read nodes expect, before its table's first
	// change. It is retried like a publish.
	Prepare(ctx context.Context) error
	// Publish writes the changes in order, and a tombstone after every
	// delete, and returns once Kafka has acknowledged all of them, with
	// the offset after the last of them on each partition written. On
	// error any of them may or may not have been written.
	Publish(ctx context.Context, changes []*Change) (Offsets, error)
	// Heartbeat writes a source heartbeat stamped at (Debezium's
	// __debezium-heartbeat.<prefix> record): the relay's sign to consumers
	// that it is connected to the binlog and keeping up. A non-nil
	// progress rides along (see Progress).
	Heartbeat(ctx context.Context, at time.Time, progress *Progress) error
	// EndOffsets returns the end offset of every partition of the captured
	// tables' change topics that exist: whatever relays before this one
	// published there lies below it.
	EndOffsets(ctx context.Context) (Offsets, error)
}

// TopicPartition names one partition of a change topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offsets are, per partition, the offset after the last message there.
type Offsets map[TopicPartition]int64

// merge adds the partitions of more to o, and raises o to every offset of
// more that is higher. An empty partition (offset 0) is named too: a node
// must know the relay has accounted for it.
func (o Offsets) merge(more Offsets) {
	for p, off := range more {
		if cur, ok := o[p]; !ok || off > cur {
			o[p] = off
		}
	}
}

// Progress is what a heartbeat says of how far the relay has published:
// every change of every transaction GTID covers is on the change topics
// below Offsets, which name every partition of the captured tables'
// topics (those that existed when the relay started, and those it wrote
// since). A read node that has consumed every partition it owns up to
// these offsets has applied every transaction up to GTID.
type Progress struct {
	// GTID is the server's GTID position after those transactions, per
	// source (MariaDB domain, MySQL server UUID) the last transaction
	// streamed, as @@gtid_binlog_pos writes it: "0-1-4711,1-2-7".
	GTID    string
	Offsets Offsets
}

// CheckpointStore keeps the resume position.
type CheckpointStore interface {
	// Load returns the saved checkpoint; found is false when there is none.
	Load(ctx context.Context) (cp Checkpoint, found bool, err error)
	// Save replaces the checkpoint; it returns once it is durable.
	Save(ctx context.Context, cp Checkpoint) error
}

// State is what the relay is doing.
type State int

// The relay's states.
const (
	StateStarting State = iota
	StateSnapshotting
	StateStreaming
	StateReconnecting
	StateStopped
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateSnapshotting:
		return "snapshotting"
	case StateStreaming:
		return "streaming"
	case StateReconnecting:
		return "reconnecting"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// Stages name where an error happened, for Metrics.Failed.
const (
	StageMySQL      = "mysql"
	StageKafka      = "kafka"
	StageCheckpoint = "checkpoint"
)

// Metrics receives what the relay observes.
type Metrics interface {
	// Published: Kafka acknowledged a change of table (db.table) with op.
	Published(table string, op domain.Op)
	// Acknowledged: everything up to pos is on Kafka, and Kafka holds
	// every change the database made up to caughtUp: the time of the last
	// change published, or when a heartbeat said there was nothing newer
	// (zero when unknown). Replication lag is the time since caughtUp, so
	// it grows while nothing is read, whatever the reason.
	Acknowledged(pos Position, caughtUp time.Time)
	// Checkpointed: the checkpoint was saved, or found to be current
	// (nothing acknowledged since the last save).
	Checkpointed(cp Checkpoint)
	// Failed: an error at stage ended a session or a checkpoint save.
	Failed(stage string)
	// StateChanged: the relay entered s.
	StateChanged(s State)
	// HeartbeatSent: a heartbeat is on Kafka.
	HeartbeatSent()
	// Stopped: the relay stopped for good, for reason; it reads nothing
	// more until the process is restarted.
	Stopped(reason StopReason)
}

// NopMetrics discards every observation.
type NopMetrics struct{}

func (NopMetrics) Published(string, domain.Op)      {}
func (NopMetrics) Acknowledged(Position, time.Time) {}
func (NopMetrics) Checkpointed(Checkpoint)          {}
func (NopMetrics) Failed(string)                    {}
func (NopMetrics) StateChanged(State)               {}
func (NopMetrics) HeartbeatSent()                   {}
func (NopMetrics) Stopped(StopReason)               {}
