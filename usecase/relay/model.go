package relay

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// Position is a place in the binlog.
type Position struct {
	File string
	Pos  uint64
	// GTID is the last transaction's global transaction id when the server
	// writes them (MariaDB: domain-server-sequence). Informational: resuming
	// uses File and Pos.
	GTID string
}

// IsZero reports whether p names no place.
func (p Position) IsZero() bool { return p.File == "" }

func (p Position) String() string {
	if p.IsZero() {
		return "(none)"
	}
	s := p.File + ":" + strconv.FormatUint(p.Pos, 10)
	if p.GTID != "" {
		s += " (gtid " + p.GTID + ")"
	}
	return s
}

// Column is a column of a captured table.
type Column struct {
	Name string
	// Type is the MySQL data type in lower case (bigint, varchar,
	// datetime, ...), as information_schema names it.
	Type     string
	Unsigned bool
	// Width is the bit count of BIT(n).
	Width int
	// Precision and Scale of DECIMAL; Scale is also the fractional-second
	// digits of DATETIME, TIMESTAMP and TIME.
	Precision, Scale int
	Nullable         bool
}

// Table is the shape of a captured table when its changes were read. A new
// *Table is made whenever the shape is read again (after DDL), so a pointer
// can key per-shape caches.
type Table struct {
	DB, Name string
	Columns  []Column
	// Key holds the indexes in Columns of the primary key, in key order.
	Key []int
}

// Row is a row image: one value per column in Table.Columns order, in the
// text form MySQL's text protocol uses over a utf8mb4 connection (TIMESTAMP
// in UTC, BIT and binary strings as their bytes). A nil value is NULL.
type Row [][]byte

// Change is one row change.
type Change struct {
	Table *Table
	// Op is c, u, d, or r for a snapshot read.
	Op domain.Op
	// Before is set for u and d, After for c, u and r.
	Before, After Row
	// At is the binlog file and the position of the event holding the
	// change, with the GTID of its transaction. A snapshot row names the
	// last transaction the snapshot reflects (of the server's own GTID
	// source; none when the server has no GTIDs) at a position after every
	// change of that transaction, so it orders after them and before any
	// later change: usually the snapshot's position.
	At Position
	// RowInEvent is the index of the row within its binlog event.
	RowInEvent int
	ServerID   uint32
	// Thread is the id of the connection that made the change, 0 if unknown.
	Thread int64
	// Time is when the change was committed (the binlog event's time, to
	// the second); for a snapshot row, when the snapshot read it.
	Time time.Time
	// Snapshot is "" for a streamed change and Debezium's marker for a
	// snapshot row: "first", "first_in_data_collection", "true",
	// "last_in_data_collection" or "last".
	Snapshot string
}

// ItemKind says what an Item carries.
type ItemKind uint8

// The kinds of stream items.
const (
	// ItemChange: a row change of a captured table.
	ItemChange ItemKind = iota + 1
	// ItemCommit: a transaction (or a statement outside one) ended; Resume
	// is where reading can restart without losing or splitting anything.
	ItemCommit
	// ItemStreaming: the source is connected and reading; sent once per
	// session so readiness does not wait for the first change.
	ItemStreaming
	// ItemHeartbeat: the server said it has nothing newer to send (a
	// binlog heartbeat); Time is when it was heard. Once everything
	// before it is on Kafka, the relay is caught up as of that time.
	ItemHeartbeat
)

// Item is what a Source streams.
type Item struct {
	Kind   ItemKind
	Change *Change
	Resume Position
	// Time is when the event happened in the database (commits and
	// changes), or when a heartbeat was heard: for replication lag.
	Time time.Time
}

// Checkpoint is a saved resume position.
type Checkpoint struct {
	Position Position
	SavedAt  time.Time
}

// SnapshotMode says when the existing rows are published before streaming.
type SnapshotMode string

// The snapshot modes.
const (
	// SnapshotInitial: when there is no checkpoint.
	SnapshotInitial SnapshotMode = "initial"
	// SnapshotNever: never; without a checkpoint, start at the binlog's end.
	SnapshotNever SnapshotMode = "never"
	// SnapshotWhenNeeded: when there is no checkpoint, and again when the
	// checkpoint's binlog file has been purged.
	SnapshotWhenNeeded SnapshotMode = "when_needed"
)

// ParseSnapshotMode reads a --snapshot value.
func ParseSnapshotMode(s string) (SnapshotMode, error) {
	switch m := SnapshotMode(s); m {
	case SnapshotInitial, SnapshotNever, SnapshotWhenNeeded:
		return m, nil
	}
	return "", fmt.Errorf("snapshot mode must be initial, never or when_needed, got %q", s)
}

// PurgedError says that the binlog file to resume from is gone.
type PurgedError struct {
	File string
}

func (e *PurgedError) Error() string {
	return fmt.Sprintf("binlog file %s is no longer on the server (purged, see SHOW BINARY LOGS): "+
		"changes after the checkpoint are lost to the relay; take a new snapshot with --snapshot=when_needed "+
		"(or delete the checkpoint), and keep binlogs longer (binlog_expire_logs_seconds / expire_logs_days) than the relay may be down", e.File)
}

// StopReason says, in a word fit for a metric label, why the relay stopped
// for good. The set is small and fixed so an alert can name each.
type StopReason string

// The reasons the relay stops for good.
const (
	// StopBinlogPurged: the binlog file to resume from is gone.
	StopBinlogPurged StopReason = "binlog_purged"
	// StopTableChanged: binlog events of a table altered since cannot be
	// decoded (they carry no column metadata).
	StopTableChanged StopReason = "table_changed"
	// StopUnsupported: a column type, character set or server feature the
	// relay cannot write faithfully.
	StopUnsupported StopReason = "unsupported"
	// StopPrivileges: the relay user lacks a grant.
	StopPrivileges StopReason = "privileges"
	// StopServerSettings: log_bin, binlog_format, binlog_row_image or
	// server_id are not what the relay needs.
	StopServerSettings StopReason = "server_settings"
	// StopMissingTable: a captured table (or the database) does not exist.
	StopMissingTable StopReason = "missing_table"
	// StopSchemaMapping: the schema mapping (--schema) does not fit the
	// database: a column missing or of the wrong type, a primary key the
	// change events cannot be keyed by, binlog order without GTIDs.
	StopSchemaMapping StopReason = "schema_mapping"
	// StopOther: anything else reconnecting cannot fix.
	StopOther StopReason = "other"
)

// StopReasons lists every StopReason, so a metric can show each at 0.
func StopReasons() []StopReason {
	return []StopReason{StopBinlogPurged, StopTableChanged, StopUnsupported, StopPrivileges,
		StopServerSettings, StopMissingTable, StopSchemaMapping, StopOther}
}

// Fix says what to do after a stop for r; the error itself names the
// detail (which grant, which setting, which column).
func (r StopReason) Fix() string {
	switch r {
	case StopBinlogPurged:
		return "take a new snapshot: restart with --snapshot=when_needed (or a fresh --relay-checkpoint-topic), and keep binlogs longer than the relay may be down"
	case StopTableChanged:
		return "take a new snapshot: restart with a fresh --relay-checkpoint-topic (or delete this relay's record in it); " +
			"set binlog_row_metadata=FULL on the server so a table altered while the relay is down stays readable"
	case StopUnsupported:
		return "capture this table with Debezium, drop it from --relay-tables, or turn the server feature off, then restart the relay"
	case StopPrivileges:
		return "grant the relay user what the error names, then restart the relay"
	case StopServerSettings:
		return "change the server setting the error names, then restart the relay"
	case StopMissingTable:
		return "check --relay-tables, the --schema mapping and the database in --db, then restart the relay"
	case StopSchemaMapping:
		return "change the --schema mapping or the tables it names as the error says, then restart the relay"
	}
	return "fix what the error says, then restart the relay"
}

// permanentError marks an error retrying cannot fix.
type permanentError struct {
	reason StopReason
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that reconnecting cannot fix (privileges,
// server settings, unsupported tables), for reason: the relay stops with it.
func Permanent(reason StopReason, err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{reason: reason, err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked
// Permanent or is a PurgedError.
func IsPermanent(err error) bool {
	_, ok := ReasonOf(err)
	return ok
}

// ReasonOf returns why err stops the relay for good, and false when it
// does not (reconnecting may fix it).
func ReasonOf(err error) (StopReason, bool) {
	var p *permanentError
	var purged *PurgedError
	switch {
	case errors.As(err, &p):
		return p.reason, true
	case errors.As(err, &purged):
		return StopBinlogPurged, true
	}
	return "", false
}
