// Package binlog reads row changes of MySQL/MariaDB tables for the relay:
// as a replication client from the binary log, and as a consistent
// snapshot of the existing rows. It speaks the replication protocol through
// vitess's MySQL client (go/mysql), since the usual Go binlog libraries are
// not available here.
//
// Values leave this package in the text form MySQL's text protocol uses
// (relay.Row): the snapshot reads them so over a utf8mb4 connection in UTC,
// and the binlog decoder turns the binary row images into the same form, so
// one encoder downstream serves both.
//
// A table's shape comes from the binlog itself when the server writes full
// row metadata (binlog_row_metadata=FULL): each table-map event then names
// the columns as they were when the rows after it were written, so events
// from before an ALTER decode as the table was then (information_schema is
// asked only for what the event cannot tell, and only when the table still
// has the event's columns). Without it the shape is read from
// information_schema when a table's first table-map event arrives, and
// again after any DDL statement or when an event no longer matches it; an
// event of a shape the table no longer has, other than one with fewer
// trailing columns, then stops the relay. Check warns when the setting is
// not FULL.
package binlog

import (
	"log"
	"log/slog"
	"os"

	vtlog "vitess.io/vitess/go/vt/log"
)

// Importing vitess sends the standard logger's output through vitess's JSON
// logger (go/vt/logutil). Package initialisation order puts this after it, so
// the process's own log output is as it would be without vitess.
func init() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("")
}

// RouteLibraryLogs sends what vitess logs itself (it logs JSON to stderr by
// default) to l. It changes process-wide state: call it once at start.
func RouteLibraryLogs(l *slog.Logger) {
	if l != nil {
		vtlog.SwapLogger(l.With("component", "vitess"))
	}
}
