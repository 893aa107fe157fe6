package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/vttls"

	"github.com/gintoki/gintoki/usecase/relay"
)

// Config says which server and tables to read.
type Config struct {
	// DSN is a go-sql-driver DSN (user:pass@tcp(host:3306)/db?tls=...);
	// its database holds the captured tables. The user needs REPLICATION
	// SLAVE, REPLICATION CLIENT (MySQL) or BINLOG MONITOR (MariaDB 10.5+),
	// and SELECT on the tables.
	DSN string
	// ServerID identifies the relay among the server's replicas; it must
	// differ from the server's and every replica's server_id.
	ServerID uint32
	// Tables are the captured tables of the DSN's database.
	Tables []string
	// Heartbeat is how often an idle server sends a heartbeat; a stream
	// that hears nothing for three of them counts as dead. Default 5s.
	Heartbeat time.Duration
	// ConnectTimeout bounds connecting and each setup query; default 10s.
	ConnectTimeout time.Duration
	// Now tells the time; default time.Now.
	Now func() time.Time
	// RowMetadataFull, when set, hears whether the server writes full
	// row metadata (binlog_row_metadata=FULL) each time the relay reads
	// the setting: at Check and at the start of every stream.
	RowMetadataFull func(full bool)
}

// Defaults of Config.
const (
	DefaultHeartbeat      = 5 * time.Second
	DefaultConnectTimeout = 10 * time.Second
)

// Source reads one database's tables. It implements relay.Source; each
// call opens its own connections, so calls may overlap.
type Source struct {
	cfg    Config
	params mysql.ConnParams
	db     string
	tables map[string]bool
	log    *slog.Logger

	mu sync.Mutex
	// collations maps the server's collation ids to character sets, read
	// once (loadCollations).
	collations map[uint64]string
	// rowMetadata is binlog_row_metadata as last read, "" before.
	rowMetadata string
	// ignoreRowMetadata decodes as if table maps carried no metadata: how
	// tests see a server with binlog_row_metadata=NO_LOG, a global setting
	// they may not change under other tests.
	ignoreRowMetadata bool
}

// New checks cfg; it does not connect.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.ServerID == 0 {
		return nil, errors.New("binlog source: server id must not be 0")
	}
	if len(cfg.Tables) == 0 {
		return nil, errors.New("binlog source: no tables to capture")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	params, db, err := connParams(cfg.DSN)
	if err != nil {
		return nil, err
	}
	tables := make(map[string]bool, len(cfg.Tables))
	for _, t := range cfg.Tables {
		if t = strings.TrimSpace(t); t == "" || strings.Contains(t, ".") {
			return nil, fmt.Errorf("binlog source: table %q: want a bare table name of database %s", t, db)
		}
		tables[t] = true
	}
	return &Source{cfg: cfg, params: params, db: db, tables: tables, log: log}, nil
}

// Database is the captured database.
func (s *Source) Database() string { return s.db }

// connParams turns a go-sql-driver DSN into vitess connection parameters.
func connParams(dsn string) (mysql.ConnParams, string, error) {
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		// The driver's messages name the problem, not the DSN text.
		return mysql.ConnParams{}, "", fmt.Errorf("binlog source: parse DSN: %w", err)
	}
	if c.DBName == "" {
		return mysql.ConnParams{}, "", errors.New("binlog source: the DSN names no database: add /<database> after the address")
	}
	p := mysql.ConnParams{Uname: c.User, Pass: c.Passwd, DbName: c.DBName, Flavor: ""}
	switch c.Net {
	case "unix":
		p.UnixSocket = c.Addr
	case "tcp", "tcp4", "tcp6", "":
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return mysql.ConnParams{}, "", fmt.Errorf("binlog source: DSN address %q: %w", c.Addr, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return mysql.ConnParams{}, "", fmt.Errorf("binlog source: DSN port %q is not a number", port)
		}
		p.Host, p.Port = host, n
	default:
		return mysql.ConnParams{}, "", fmt.Errorf("binlog source: DSN network %q: want tcp or unix", c.Net)
	}
	switch c.TLSConfig {
	case "", "false":
		p.SslMode = vttls.Disabled
	case "preferred":
		p.SslMode = vttls.Preferred
	case "skip-verify":
		p.SslMode = vttls.Required
	case "true":
		p.SslMode = vttls.VerifyIdentity
		p.ServerName = p.Host
	default:
		return mysql.ConnParams{}, "", fmt.Errorf("binlog source: DSN tls=%q: want true, skip-verify, preferred or false", c.TLSConfig)
	}
	return p, c.DBName, nil
}

// connect opens a connection for queries: utf8mb4 text, UTC timestamps.
func (s *Source) connect(ctx context.Context) (*mysql.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	params := s.params
	c, err := mysql.Connect(cctx, &params)
	if err != nil {
		return nil, s.connectError(err)
	}
	for _, q := range []string{"SET NAMES utf8mb4", "SET time_zone = '+00:00'"} {
		if _, err := c.ExecuteFetch(q, 0, false); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return c, nil
}

func (s *Source) address() string {
	if s.params.UnixSocket != "" {
		return s.params.UnixSocket
	}
	return net.JoinHostPort(s.params.Host, strconv.Itoa(s.params.Port))
}

// session connects and ties the connection to ctx: it is closed when ctx
// ends (unblocking a read in progress) and when end is called.
func (s *Source) session(ctx context.Context) (c *mysql.Conn, end func(), err error) {
	if c, err = s.connect(ctx); err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, c.Close)
	return c, func() { stop(); c.Close() }, nil
}

func (s *Source) connectError(err error) error {
	switch sqlCode(err) {
	case sqlerror.ERAccessDeniedError, erAccessDeniedNoPassword:
		return relay.Permanent(relay.StopPrivileges, fmt.Errorf("connect to %s as %q: access denied: check the user and password in --db: %w", s.address(), s.params.Uname, err))
	case sqlerror.ERDBAccessDenied:
		return relay.Permanent(relay.StopPrivileges, fmt.Errorf("connect to %s: database %q: %w", s.address(), s.db, err))
	case sqlerror.ERBadDb:
		return relay.Permanent(relay.StopMissingTable, fmt.Errorf("connect to %s: database %q: %w", s.address(), s.db, err))
	}
	return fmt.Errorf("connect to %s: %w", s.address(), err)
}

// erAccessDeniedNoPassword is MariaDB's access denied for a user that gave
// no password; vitess names only MySQL's 1045.
const erAccessDeniedNoPassword sqlerror.ErrorCode = 1698

// sqlCode is the MySQL error number of err, 0 if it has none.
func sqlCode(err error) sqlerror.ErrorCode {
	var se *sqlerror.SQLError
	if errors.As(err, &se) {
		return se.Num
	}
	return 0
}

// grantHint is what to run so the relay user has its privileges.
const grantHint = "GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO <user> (MySQL: REPLICATION SLAVE, REPLICATION CLIENT), plus SELECT on the captured tables"

// Check implements relay.Source: server settings, privileges, tables.
func (s *Source) Check(ctx context.Context) error {
	c, end, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer end()

	qr, err := c.ExecuteFetch("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id, @@version", 1, false)
	if err != nil {
		return fmt.Errorf("read binlog settings: %w", err)
	}
	row := qr.Rows[0]
	serverID, _ := strconv.ParseUint(row[3].ToString(), 10, 32)
	if err := checkSettings(settings{
		logBin: row[0].ToString(), format: row[1].ToString(), rowImage: row[2].ToString(),
		serverID: uint32(serverID), relayID: s.cfg.ServerID,
	}); err != nil {
		return relay.Permanent(relay.StopServerSettings, err)
	}
	if _, err := s.masterStatus(c); err != nil {
		return err
	}
	for t := range s.tables {
		if _, err := loadTable(c, s.db, t); err != nil {
			return err
		}
	}
	if err := s.probeDump(ctx); err != nil {
		return err
	}
	s.noteRowMetadata(c, true)
	s.log.Info("binlog source ready", "server", s.address(), "version", row[4].ToString(), "server_id", serverID,
		"relay_server_id", s.cfg.ServerID, "database", s.db, "tables", s.cfg.Tables)
	return nil
}

// settings are the server variables the relay depends on.
type settings struct {
	logBin, format, rowImage string
	serverID, relayID        uint32
}

// checkSettings says which server setting to change, if any.
func checkSettings(v settings) error {
	var errs []error
	if v.logBin != "1" && !strings.EqualFold(v.logBin, "ON") {
		errs = append(errs, errors.New("binary logging is off (log_bin=0): start the server with log_bin (e.g. log-bin=mysql-bin) and a server_id"))
	}
	if !strings.EqualFold(v.format, "ROW") {
		errs = append(errs, fmt.Errorf("binlog_format is %s: the relay needs ROW (set binlog_format=ROW in the server configuration; SET GLOBAL only affects new sessions)", v.format))
	}
	if !strings.EqualFold(v.rowImage, "FULL") {
		errs = append(errs, fmt.Errorf("binlog_row_image is %s: the relay needs FULL before and after images (set binlog_row_image=FULL)", v.rowImage))
	}
	if v.serverID == 0 {
		errs = append(errs, errors.New("server_id is 0: a server with a binlog needs a non-zero server_id"))
	} else if v.serverID == v.relayID {
		errs = append(errs, fmt.Errorf("--server-id %d is the server's own server_id: give the relay an id no server or replica uses", v.relayID))
	}
	return errors.Join(errs...)
}

// masterStatus is SHOW MASTER STATUS (SHOW BINARY LOG STATUS on MySQL 8.4+).
func (s *Source) masterStatus(c *mysql.Conn) (relay.Position, error) {
	qr, err := c.ExecuteFetch("SHOW MASTER STATUS", 1, false)
	if sqlCode(err) == sqlerror.ERParseError || sqlCode(err) == sqlerror.ERSyntaxError {
		qr, err = c.ExecuteFetch("SHOW BINARY LOG STATUS", 1, false)
	}
	if err != nil {
		if sqlCode(err) == sqlerror.ERSpecifiedAccessDenied {
			return relay.Position{}, relay.Permanent(relay.StopPrivileges, fmt.Errorf("SHOW MASTER STATUS denied: the relay user needs BINLOG MONITOR (MariaDB 10.5+) or REPLICATION CLIENT (MySQL): %s: %w", grantHint, err))
		}
		return relay.Position{}, fmt.Errorf("read the binlog position: %w", err)
	}
	if len(qr.Rows) == 0 {
		return relay.Position{}, relay.Permanent(relay.StopServerSettings, errors.New("SHOW MASTER STATUS is empty: binary logging is off; start the server with log_bin and a server_id"))
	}
	pos, err := strconv.ParseUint(qr.Rows[0][1].ToString(), 10, 64)
	if err != nil {
		return relay.Position{}, fmt.Errorf("read the binlog position: position %q: %w", qr.Rows[0][1].ToString(), err)
	}
	return relay.Position{File: qr.Rows[0][0].ToString(), Pos: pos}, nil
}

// probeDump asks for a binlog dump and reads its first event, so a missing
// REPLICATION SLAVE grant fails the start with a clear message rather than
// every reconnect.
func (s *Source) probeDump(ctx context.Context) error {
	c, end, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer end()
	at, err := s.masterStatus(c)
	if err != nil {
		return err
	}
	if err := startDump(c, s.cfg.ServerID, at, 0); err != nil {
		return s.dumpError(err, at)
	}
	if _, err := c.ReadBinlogEvent(); err != nil {
		return s.dumpError(err, at)
	}
	return nil
}

// dumpError explains why a binlog dump was refused.
func (s *Source) dumpError(err error, at relay.Position) error {
	switch sqlCode(err) {
	case sqlerror.ERSpecifiedAccessDenied, sqlerror.ERAccessDeniedError:
		return relay.Permanent(relay.StopPrivileges, fmt.Errorf("binlog dump denied: the relay user needs REPLICATION SLAVE: %s: %w", grantHint, err))
	case sqlerror.ERMasterFatalReadingBinlog:
		msg := strings.ToLower(err.Error())
		if strings.Contains(msg, "could not find first log file") || strings.Contains(msg, "purged") {
			return &relay.PurgedError{File: at.File}
		}
		return relay.Permanent(relay.StopOther, fmt.Errorf("the server refused to send the binlog from %s: %w", at, err))
	}
	return fmt.Errorf("binlog dump from %s: %w", at, err)
}

// Current implements relay.Source.
func (s *Source) Current(ctx context.Context) (relay.Position, error) {
	c, end, err := s.session(ctx)
	if err != nil {
		return relay.Position{}, err
	}
	defer end()
	return s.masterStatus(c)
}

// HasBinlog implements relay.Source.
func (s *Source) HasBinlog(ctx context.Context, file string) (bool, error) {
	c, end, err := s.session(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	files, err := binaryLogs(c)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(files, func(f binlogFile) bool { return f.name == file }), nil
}

// startDump sets up the replication session and asks for the binlog from
// at. A positive heartbeat makes an idle server send heartbeat events.
func startDump(c *mysql.Conn, serverID uint32, at relay.Position, heartbeat time.Duration) error {
	if at.Pos > 1<<32-1 {
		return relay.Permanent(relay.StopOther, fmt.Errorf("binlog position %s does not fit the dump protocol's 32 bits", at))
	}
	// Without the checksum variables the server refuses a client that
	// cannot say it understands checksums (error 1236); the capability
	// makes MariaDB send its GTID events as they are.
	setup := []string{
		"SET @master_binlog_checksum = @@global.binlog_checksum",
		"SET @source_binlog_checksum = @@global.binlog_checksum",
		"SET @mariadb_slave_capability = 4",
	}
	if heartbeat > 0 {
		setup = append(setup, "SET @master_heartbeat_period = "+strconv.FormatInt(heartbeat.Nanoseconds(), 10))
	}
	for _, q := range setup {
		if _, err := c.ExecuteFetch(q, 0, false); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return c.SendBinlogDumpCommand(serverID, at.File, uint32(at.Pos))
}

// rowMetadataFix is what to run so table maps carry column names.
const rowMetadataFix = "SET GLOBAL binlog_row_metadata=FULL, and binlog_row_metadata=FULL in the server's configuration (--binlog-row-metadata=FULL) so it survives a restart"

// rowMetadataAdvice says whether setting (@@binlog_row_metadata, "" when
// the server has no such variable) is FULL, and if not what goes wrong and
// what to do.
func rowMetadataAdvice(setting string) (full bool, advice string) {
	if strings.EqualFold(setting, "FULL") {
		return true, ""
	}
	const without = "binlog events carry no column names, so a captured table altered while the relay is down or behind " +
		"stops the relay until a new snapshot is taken (its older events cannot be decoded with the table's new shape)"
	if setting == "" {
		return false, "the server has no binlog_row_metadata (MariaDB before 10.5, MySQL before 8.0.1): " + without +
			"; upgrade the server and set binlog_row_metadata=FULL"
	}
	return false, "binlog_row_metadata is " + setting + ", not FULL: " + without + "; fix: " + rowMetadataFix
}

// readRowMetadata reads @@global.binlog_row_metadata, "" on a server that
// does not have it.
func readRowMetadata(c *mysql.Conn) (string, error) {
	v, _, err := readGlobal(c, "binlog_row_metadata")
	return v, err
}

// readGlobal reads a global server variable; ok is false when the server
// does not know it.
func readGlobal(c *mysql.Conn, name string) (value string, ok bool, err error) {
	qr, err := c.ExecuteFetch("SELECT @@global."+name, 1, false)
	switch {
	case sqlCode(err) == sqlerror.ERUnknownSystemVariable:
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read %s: %w", name, err)
	case len(qr.Rows) != 1 || len(qr.Rows[0]) != 1:
		return "", false, fmt.Errorf("read %s: %d rows", name, len(qr.Rows))
	}
	return qr.Rows[0][0].ToString(), true, nil
}

// noteRowMetadata reads binlog_row_metadata and reports it.
func (s *Source) noteRowMetadata(c *mysql.Conn, atStart bool) {
	v, err := readRowMetadata(c)
	s.reportRowMetadata(v, err, atStart)
}

// reportRowMetadata tells Config.RowMetadataFull what the server writes and
// warns when it is not FULL: at start always, later only when it changed.
// The relay works without it, so a failed read is only logged.
func (s *Source) reportRowMetadata(setting string, readErr error, atStart bool) {
	if readErr != nil {
		s.log.Warn("binlog source: cannot tell whether binlog events carry column metadata", "err", readErr)
		return
	}
	full, advice := rowMetadataAdvice(setting)
	s.mu.Lock()
	changed := s.rowMetadata != setting
	s.rowMetadata = setting
	s.mu.Unlock()
	if s.cfg.RowMetadataFull != nil {
		s.cfg.RowMetadataFull(full)
	}
	if !full && (atStart || changed) {
		s.log.Warn("binlog source: "+advice, "binlog_row_metadata", setting, "fix", rowMetadataFix)
	}
}

// charsets returns a lookup of collation ids, read from the server once.
func (s *Source) charsets(c *mysql.Conn) (func(uint64) (string, bool), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.collations == nil {
		m, err := loadCollations(c)
		if err != nil {
			return nil, err
		}
		s.collations = m
	}
	m := s.collations
	return func(id uint64) (string, bool) {
		cs, ok := m[id]
		return cs, ok
	}, nil
}
