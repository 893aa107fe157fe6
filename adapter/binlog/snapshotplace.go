package binlog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	querypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Where a snapshot's rows stand in binlog order. A read node that orders a
// table by the binlog (no version column) places a change by its
// transaction's GTID and by domain.SubOf(source.pos, source.row). A row
// that names no transaction cannot be placed, and the node evicts instead
// of caching it, which is what Debezium's snapshot rows (no GTID) cost. So
// a snapshot row names the last transaction the snapshot reflects and a
// binlog position at or after that transaction's end: it then compares
// newer than every change of that transaction and older than every later
// one.

// server is what a snapshot needs to know of the server it reads.
type server struct {
	id      uint32
	mariadb bool
	// own is the GTID source the server writes its own transactions in:
	// MariaDB's @@gtid_domain_id, MySQL's @@server_uuid; "" when unknown.
	own string
}

func readServer(c *mysql.Conn) (server, error) {
	qr, err := c.ExecuteFetch("SELECT @@server_id, @@version", 1, false)
	if err != nil {
		return server{}, fmt.Errorf("read server_id and version: %w", err)
	}
	if len(qr.Rows) != 1 || len(qr.Rows[0]) != 2 {
		return server{}, fmt.Errorf("read server_id and version: %d rows", len(qr.Rows))
	}
	id, err := strconv.ParseUint(qr.Rows[0][0].ToString(), 10, 32)
	if err != nil {
		return server{}, fmt.Errorf("read server_id: %w", err)
	}
	srv := server{id: uint32(id), mariadb: strings.Contains(strings.ToLower(qr.Rows[0][1].ToString()), "mariadb")}
	own := "server_uuid"
	if srv.mariadb {
		own = "gtid_domain_id"
	}
	if srv.own, _, err = readGlobal(c, own); err != nil {
		return server{}, err
	}
	return srv, nil
}

// binlogGTIDPos is MariaDB's GTID position at a binlog file and position,
// "" when the server cannot tell (the position is not an event boundary).
func binlogGTIDPos(c *mysql.Conn, at relay.Position) (string, error) {
	qr, err := c.ExecuteFetch("SELECT BINLOG_GTID_POS("+quote(at.File)+", "+strconv.FormatUint(at.Pos, 10)+")", 1, false)
	if err != nil {
		return "", fmt.Errorf("read the GTID position at %s: %w", at, err)
	}
	if len(qr.Rows) != 1 || len(qr.Rows[0]) != 1 || qr.Rows[0][0].IsNull() {
		return "", nil
	}
	return qr.Rows[0][0].ToString(), nil
}

// lastOwn picks from a GTID position (MariaDB's "0-1-100,1-2-7", MySQL's
// GTID set "uuid:1-5:11-18,uuid2:1-27") the transaction snapshot rows name:
// the last one of the server's own source own, where its next writes will
// be, or the only one there is; "" when neither (several sources, none of
// them the server's own, or none at all). Any source would be safe: a read
// node cannot order changes of two sources against each other and evicts,
// as it does for a row without a GTID. The own source is the one that
// makes the later changes of the rows comparable.
func lastOwn(position, own string) string {
	var only, mine string
	n := 0
	for _, entry := range strings.Split(position, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		source, gtid := lastOfEntry(entry)
		if gtid == "" {
			return "" // not a position this reader understands: name nothing
		}
		n++
		only = gtid
		if own != "" && strings.EqualFold(source, own) {
			mine = gtid
		}
	}
	switch {
	case mine != "":
		return mine
	case n == 1:
		return only
	}
	return ""
}

// lastOfEntry reads one source of a GTID position: its source (a MariaDB
// domain, a MySQL server UUID) and its last transaction as a GTID; "" for
// something else.
func lastOfEntry(entry string) (source, gtid string) {
	if uuid, _, ok := strings.Cut(entry, ":"); ok {
		p, err := domain.ParseSourcePos(entry)
		if err != nil || len(p) != 1 {
			return "", ""
		}
		uuid = strings.TrimSpace(uuid)
		return uuid, uuid + ":" + strconv.FormatUint(p[0].Seq, 10)
	}
	if _, ok := domain.ParseGTID(entry); !ok {
		return "", ""
	}
	d, _, _ := strings.Cut(entry, "-")
	return d, entry
}

// afterTransaction returns a binlog position at or after the end of
// transaction g, the last of its source that the snapshot at at reflects.
// at itself is one, unless the binlog was rotated after g (FLUSH BINARY
// LOGS, max_binlog_size): positions in the new file are smaller than g's,
// and a row placed there would compare older than g's own changes. The end
// of the latest earlier file that holds g is then taken: no transaction of
// g's source lies between it and at. When g's file is purged, at is all
// there is: g's changes are then long streamed, with images equal to the
// snapshot's.
func afterTransaction(c *mysql.Conn, srv server, at relay.Position, g domain.GTID) (relay.Position, error) {
	start, err := gtidsAtStart(c, srv, at.File)
	if err != nil || !start.Covers(g) {
		return at, err
	}
	files, err := binaryLogs(c)
	if err != nil {
		return relay.Position{}, err
	}
	i := slices.IndexFunc(files, func(f binlogFile) bool { return f.name == at.File })
	if i < 0 {
		return at, nil
	}
	for i--; i >= 0; i-- {
		start, err := gtidsAtStart(c, srv, files[i].name)
		if err != nil {
			return relay.Position{}, err
		}
		if !start.Covers(g) {
			return relay.Position{File: files[i].name, Pos: files[i].size}, nil
		}
	}
	return at, nil
}

// gtidsAtStart is the GTID position at the start of a binlog file: what its
// Gtid_list (MariaDB) or Previous_gtids (MySQL) event says came before it.
func gtidsAtStart(c *mysql.Conn, srv server, file string) (domain.SourcePos, error) {
	var raw string
	if srv.mariadb {
		var err error
		if raw, err = binlogGTIDPos(c, relay.Position{File: file, Pos: 4}); err != nil {
			return nil, err
		}
	} else {
		qr, err := c.ExecuteFetch("SHOW BINLOG EVENTS IN "+quote(file)+" LIMIT 4", 4, true)
		if err != nil {
			return nil, fmt.Errorf("read the start of binlog file %s: %w", file, err)
		}
		typeCol, infoCol := fieldIndex(qr.Fields, "Event_type"), fieldIndex(qr.Fields, "Info")
		for _, r := range qr.Rows {
			if typeCol >= 0 && infoCol >= 0 && r[typeCol].ToString() == "Previous_gtids" {
				raw = r[infoCol].ToString()
			}
		}
	}
	p, err := domain.ParseSourcePos(raw)
	if err != nil {
		return nil, fmt.Errorf("the GTIDs before binlog file %s: %w", file, err)
	}
	return p, nil
}

func fieldIndex(fields []*querypb.Field, name string) int {
	for i, f := range fields {
		if strings.EqualFold(f.GetName(), name) {
			return i
		}
	}
	return -1
}

// binlogFile is a line of SHOW BINARY LOGS.
type binlogFile struct {
	name string
	size uint64
}

// binaryLogs lists the server's binlog files, oldest first.
func binaryLogs(c *mysql.Conn) ([]binlogFile, error) {
	qr, err := c.ExecuteFetch("SHOW BINARY LOGS", 1<<20, false)
	if err != nil {
		if sqlCode(err) == sqlerror.ERSpecifiedAccessDenied {
			return nil, relay.Permanent(relay.StopPrivileges, fmt.Errorf("SHOW BINARY LOGS denied: %s: %w", grantHint, err))
		}
		return nil, fmt.Errorf("list binlog files: %w", err)
	}
	files := make([]binlogFile, 0, len(qr.Rows))
	for _, r := range qr.Rows {
		if len(r) < 2 {
			return nil, fmt.Errorf("list binlog files: a line of %d columns", len(r))
		}
		size, err := strconv.ParseUint(r[1].ToString(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list binlog files: size of %s: %w", r[0].ToString(), err)
		}
		files = append(files, binlogFile{name: r[0].ToString(), size: size})
	}
	return files, nil
}
