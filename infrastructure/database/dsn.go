// Package database opens the source-of-truth database (MySQL/MariaDB, or a
// SQLite file for the embedded default), creates its schema and fills it with
// sample data.
package database

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// The drivers a DSN can name.
const (
	DriverMySQL  = "mysql"
	DriverSQLite = "sqlite"
)

const (
	mysqlScheme  = "mysql://"
	sqliteScheme = "sqlite://"
	// sqliteMemoryShort is the one spelling without "//" that is accepted,
	// because it is how people usually write an in-memory SQLite database.
	sqliteMemoryShort = "sqlite::memory:"
	sqliteMemoryPath  = ":memory:"
	redactedPassword  = "xxxxx"
)

// DSN names a database and the driver that reaches it.
type DSN struct {
	// Driver is DriverMySQL or DriverSQLite.
	Driver string
	// Raw is what the driver is given: a go-sql-driver DSN for MySQL, a file
	// path with query parameters for SQLite. It may hold a password: never log
	// it, log Redacted() instead.
	Raw string
	// Database is the schema name (MySQL) or the file's base name without
	// its extension (SQLite).
	Database string
}

// ParseDSN reads "mysql://<go-sql-driver DSN>" or "sqlite://<path>" (also
// "sqlite::memory:"). Settings the rest of the project relies on are added
// when missing: parseTime (MySQL); WAL journal, busy timeout and immediate
// write transactions (SQLite). Errors never repeat the password.
func ParseDSN(s string) (DSN, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return DSN{}, errors.New("database DSN is empty: want mysql://user:pass@tcp(host:3306)/db or sqlite://path/to/file.db")
	case strings.HasPrefix(s, mysqlScheme):
		return parseMySQL(strings.TrimPrefix(s, mysqlScheme))
	case strings.HasPrefix(s, sqliteScheme):
		return parseSQLite(strings.TrimPrefix(s, sqliteScheme))
	case s == sqliteMemoryShort:
		return parseSQLite(sqliteMemoryPath)
	}
	scheme, _, found := strings.Cut(s, "://")
	if !found {
		return DSN{}, errors.New("database DSN has no scheme: want mysql://<go-sql-driver DSN> or sqlite://<path>")
	}
	// The scheme cannot hold a password (no "@" before "://" is possible in
	// a scheme), but cap it so a garbled DSN is not echoed wholesale.
	if len(scheme) > 16 || strings.ContainsAny(scheme, "@:/") {
		return DSN{}, errors.New("database DSN has an unreadable scheme: want mysql:// or sqlite://")
	}
	return DSN{}, fmt.Errorf("database DSN has unknown scheme %q: want mysql:// or sqlite://", scheme)
}

func parseMySQL(raw string) (DSN, error) {
	if raw == "" {
		return DSN{}, errors.New("mysql DSN is empty after mysql://: want mysql://user:pass@tcp(host:3306)/db")
	}
	cfg, err := mysql.ParseDSN(raw)
	if err != nil {
		// go-sql-driver's parse errors name the problem, not the DSN text.
		return DSN{}, fmt.Errorf("parse mysql DSN: %w", err)
	}
	if cfg.DBName == "" {
		return DSN{}, fmt.Errorf("mysql DSN %s names no database: add /<database> after the address", redactMySQL(cfg))
	}
	// Scans of DATETIME columns need time.Time; loc already defaults to UTC
	// in go-sql-driver when the DSN does not name one.
	cfg.ParseTime = true
	return DSN{Driver: DriverMySQL, Raw: cfg.FormatDSN(), Database: cfg.DBName}, nil
}

func parseSQLite(raw string) (DSN, error) {
	path, query, _ := strings.Cut(raw, "?")
	if path == "" {
		return DSN{}, errors.New("sqlite DSN names no file: want sqlite://path/to/file.db, or sqlite::memory: for a database in memory")
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return DSN{}, fmt.Errorf("parse sqlite DSN query %q: %w", query, err)
	}
	addPragmaIfMissing(params, "journal_mode", "journal_mode(WAL)")
	addPragmaIfMissing(params, "busy_timeout", "busy_timeout(5000)")
	addPragmaIfMissing(params, "synchronous", "synchronous(NORMAL)")
	// A deferred transaction that reads first and writes later cannot wait
	// for the write lock (SQLite answers SQLITE_BUSY at once); taking the
	// lock at BEGIN lets busy_timeout do its job.
	if !params.Has("_txlock") {
		params.Set("_txlock", "immediate")
	}

	name := "memory"
	if path != sqliteMemoryPath {
		base := filepath.Base(path)
		name = strings.TrimSuffix(base, filepath.Ext(base))
		if name == "" || name == "." || name == string(filepath.Separator) {
			return DSN{}, fmt.Errorf("sqlite DSN path %q names no file", path)
		}
	}
	return DSN{Driver: DriverSQLite, Raw: path + "?" + params.Encode(), Database: name}, nil
}

func addPragmaIfMissing(params url.Values, name, pragma string) {
	for _, p := range params["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
			return
		}
	}
	params.Add("_pragma", pragma)
}

// InMemory reports whether the DSN names a SQLite in-memory database, which
// lives only as long as its one connection.
func (d DSN) InMemory() bool {
	return d.Driver == DriverSQLite && strings.HasPrefix(d.Raw, sqliteMemoryPath)
}

// Redacted is the DSN with its password replaced, safe for logs.
func (d DSN) Redacted() string {
	switch d.Driver {
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(d.Raw)
		if err != nil {
			return mysqlScheme + "<unparseable>"
		}
		return redactMySQL(cfg)
	case DriverSQLite:
		return sqliteScheme + d.Raw
	case "":
		return "<no database>"
	}
	return "<unknown driver " + d.Driver + ">"
}

// Where names the database for a message to a person: driver, user, address
// and database (mysql://user@host:port/db) or the file (sqlite://path),
// without the password or the parameters added for the driver.
func (d DSN) Where() string {
	switch d.Driver {
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(d.Raw)
		if err != nil {
			return mysqlScheme + "<unparseable>"
		}
		user := ""
		if cfg.User != "" {
			user = cfg.User + "@"
		}
		return mysqlScheme + user + cfg.Addr + "/" + cfg.DBName
	case DriverSQLite:
		path, _, _ := strings.Cut(d.Raw, "?")
		return sqliteScheme + path
	}
	return d.Redacted()
}

func redactMySQL(cfg *mysql.Config) string {
	c := cfg.Clone()
	if c.Passwd != "" {
		c.Passwd = redactedPassword
	}
	return mysqlScheme + c.FormatDSN()
}

// String is Redacted, so printing a DSN with %v or %s cannot leak the password.
func (d DSN) String() string { return d.Redacted() }

// GoString keeps %#v from printing Raw.
func (d DSN) GoString() string { return "database.DSN(" + d.Redacted() + ")" }

// LogValue keeps slog from printing Raw.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.Redacted()) }

// WithPassword returns the DSN text (with its scheme, as --db takes it)
// with password in place of the one it holds. SQLite has no password.
func (d DSN) WithPassword(password string) (string, error) {
	if d.Driver != DriverMySQL {
		return "", fmt.Errorf("a %s database takes no password", d.Driver)
	}
	cfg, err := mysql.ParseDSN(d.Raw)
	if err != nil {
		return "", fmt.Errorf("parse mysql DSN: %w", err)
	}
	if cfg.Passwd != "" {
		return "", fmt.Errorf("the DSN %s already holds a password; give it in one place", redactMySQL(cfg))
	}
	cfg.Passwd = password
	return mysqlScheme + cfg.FormatDSN(), nil
}
