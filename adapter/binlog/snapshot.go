package binlog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Snapshot implements relay.Source. On MariaDB (and Percona Server) the
// snapshot takes no lock: START TRANSACTION WITH CONSISTENT SNAPSHOT makes
// the server report, as binlog_snapshot_file/_position, the binlog position
// that matches the transaction's view. Elsewhere (MySQL) the position is
// read under a brief FLUSH TABLES WITH READ LOCK, which needs RELOAD.
//
// Every row names the last transaction the snapshot reflects in
// source.gtid, and a position after that transaction's changes (see
// afterTransaction), so read nodes that order a table by the binlog can
// place it; the position returned is the snapshot's own.
func (s *Source) Snapshot(ctx context.Context, emit func(*relay.Change) error) (relay.Position, error) {
	c, end, err := s.session(ctx)
	if err != nil {
		return relay.Position{}, err
	}
	defer end()

	srv, err := readServer(c)
	if err != nil {
		return relay.Position{}, err
	}
	pos, gtids, err := s.beginSnapshot(c, srv)
	if err != nil {
		return relay.Position{}, err
	}
	rowsAt, err := s.placeRows(c, srv, pos, gtids)
	if err != nil {
		return relay.Position{}, err
	}
	pos.GTID = rowsAt.GTID
	started := s.cfg.Now()
	s.log.Info("snapshot started", "position", pos.String(), "rows_at", rowsAt.String(), "tables", s.cfg.Tables)

	names := make([]string, 0, len(s.tables))
	for t := range s.tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, name := range names {
		info, err := loadTable(c, s.db, name)
		if err != nil {
			return relay.Position{}, err
		}
		n, err := s.snapshotTable(c, info, func(row relay.Row) error {
			return emit(&relay.Change{
				Table: info.table, Op: domain.OpRead, After: row,
				At: rowsAt, ServerID: srv.id, Time: started,
			})
		})
		if err != nil {
			return relay.Position{}, err
		}
		s.log.Info("snapshot table read", "table", s.db+"."+name, "rows", n)
	}
	if _, err := c.ExecuteFetch("COMMIT", 0, false); err != nil {
		return relay.Position{}, fmt.Errorf("end the snapshot transaction: %w", err)
	}
	return pos, nil
}

// placeRows returns where the snapshot's rows stand: the GTID of the last
// transaction of the server's own source that the snapshot reflects, at a
// position after that transaction's changes. Without such a GTID (a MySQL
// server without gtid_mode, a position of several foreign sources) it is
// at, unchanged, and read nodes treat the rows as they treat Debezium's.
func (s *Source) placeRows(c *mysql.Conn, srv server, at relay.Position, gtids string) (relay.Position, error) {
	last := lastOwn(gtids, srv.own)
	g, ok := domain.ParseGTID(last)
	if !ok {
		s.log.Info("snapshot rows name no transaction (source.gtid empty): read nodes that order a table by the binlog will not cache them",
			"gtid_position", gtids, "own_source", srv.own)
		return at, nil
	}
	rowsAt, err := afterTransaction(c, srv, at, g)
	if err != nil {
		return relay.Position{}, fmt.Errorf("snapshot: place its rows after transaction %s: %w", last, err)
	}
	rowsAt.GTID = last
	return rowsAt, nil
}

// beginSnapshot opens the consistent-read transaction and returns the
// binlog position it matches, with the GTID position it reflects ("" when
// the server says none).
func (s *Source) beginSnapshot(c *mysql.Conn, srv server) (relay.Position, string, error) {
	if _, err := c.ExecuteFetch("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", 0, false); err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	qr, err := c.ExecuteFetch("SHOW GLOBAL STATUS LIKE 'binlog_snapshot_file'", 10, false)
	if err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	if len(qr.Rows) > 0 {
		return lockless(c, srv)
	}
	if _, err := c.ExecuteFetch("FLUSH TABLES WITH READ LOCK", 0, false); err != nil {
		if sqlCode(err) == sqlerror.ERSpecifiedAccessDenied {
			return relay.Position{}, "", relay.Permanent(relay.StopPrivileges, fmt.Errorf("snapshot: this server needs a brief global read lock to match a snapshot with a binlog position, "+
				"and the relay user lacks RELOAD: grant RELOAD, or start with --snapshot=never: %w", err))
		}
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	defer func() { _, _ = c.ExecuteFetch("UNLOCK TABLES", 0, false) }()
	if _, err := c.ExecuteFetch("START TRANSACTION WITH CONSISTENT SNAPSHOT", 0, false); err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	pos, err := s.masterStatus(c)
	if err != nil {
		return relay.Position{}, "", err
	}
	// Under the lock nothing commits: the executed set is the snapshot's.
	gtids, _, err := readGlobal(c, "gtid_executed")
	if err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	return pos, gtids, nil
}

// lockless starts the snapshot on a server that reports the binlog
// position of a consistent snapshot (MariaDB, Percona Server).
func lockless(c *mysql.Conn, srv server) (relay.Position, string, error) {
	if _, err := c.ExecuteFetch("START TRANSACTION WITH CONSISTENT SNAPSHOT", 0, false); err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
	}
	status, err := c.ExecuteFetch("SHOW STATUS LIKE 'binlog_snapshot_%'", 10, false)
	if err != nil {
		return relay.Position{}, "", fmt.Errorf("snapshot: read its binlog position: %w", err)
	}
	var pos relay.Position
	var gtids string
	for _, r := range status.Rows {
		switch r[0].ToString() {
		case "Binlog_snapshot_file":
			pos.File = r[1].ToString()
		case "Binlog_snapshot_position":
			if pos.Pos, err = strconv.ParseUint(r[1].ToString(), 10, 64); err != nil {
				return relay.Position{}, "", fmt.Errorf("snapshot: position %q: %w", r[1].ToString(), err)
			}
		case "Binlog_snapshot_gtid_executed": // Percona Server
			gtids = r[1].ToString()
		}
	}
	if pos.File == "" {
		return relay.Position{}, "", errors.New("snapshot: the server reported no binlog_snapshot_file; is the binlog on?")
	}
	if srv.mariadb {
		// The position is an event boundary, which BINLOG_GTID_POS turns
		// into the GTIDs written before it.
		if gtids, err = binlogGTIDPos(c, pos); err != nil {
			return relay.Position{}, "", fmt.Errorf("snapshot: %w", err)
		}
	}
	return pos, gtids, nil
}

// snapshotTable streams every row of one table through emit.
func (s *Source) snapshotTable(c *mysql.Conn, info *tableInfo, emit func(relay.Row) error) (int, error) {
	full := info.table.DB + "." + info.table.Name
	if err := c.ExecuteStreamFetch("SELECT * FROM " + quoteIdent(info.table.DB) + "." + quoteIdent(info.table.Name)); err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", full, err)
	}
	fields, err := c.Fields()
	if err != nil {
		c.CloseResult()
		return 0, fmt.Errorf("snapshot %s: %w", full, err)
	}
	if len(fields) != len(info.table.Columns) {
		c.CloseResult()
		return 0, fmt.Errorf("snapshot %s: the table has %d columns, its definition %d; was it altered during the snapshot?", full, len(fields), len(info.table.Columns))
	}
	rows := 0
	for {
		vals, err := c.FetchNext(nil)
		if err != nil {
			c.CloseResult()
			return rows, fmt.Errorf("snapshot %s: %w", full, err)
		}
		if vals == nil {
			c.CloseResult()
			return rows, nil
		}
		size := 0
		for _, v := range vals {
			size += v.Len()
		}
		// One allocation per row; the client may reuse its buffers.
		buf := make([]byte, 0, size)
		row := make(relay.Row, len(vals))
		for i, v := range vals {
			if v.IsNull() {
				continue
			}
			start := len(buf)
			buf = append(buf, v.Raw()...)
			row[i] = buf[start:len(buf):len(buf)]
		}
		rows++
		if err := emit(row); err != nil {
			// The rest of the result cannot be skipped cheaply: the
			// caller closes the connection.
			return rows, err
		}
	}
}
