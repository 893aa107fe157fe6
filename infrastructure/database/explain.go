package database

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// Explain says what to check when the database at dsn could not be opened
// or used at start, "" when it has nothing to add: the driver's words
// ("connection refused", "Error 1045") say what failed, not where or what to
// do about it.
func Explain(dsn DSN, err error) string {
	var me *mysql.MySQLError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &me):
		switch me.Number {
		case 1045, 1698: // 1698: MariaDB's word for a user without a password refused
			return "check the user and password in --db (or --db-password-file)"
		case 1044, 1142, 1143:
			return "the user lacks a privilege on the database: GRANT SELECT on it"
		case 1049:
			return "the database named in --db does not exist: create it, or fix the name"
		}
	case errors.As(err, &dnsErr):
		return "the host in --db does not resolve: check its name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: is the server running, and are the host and port in --db right?"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &opErr) && opErr.Timeout():
		return "the server did not answer in time: is the host in --db reachable (network, firewall)?"
	case dsn.Driver == DriverSQLite && strings.Contains(err.Error(), "unable to open database file"):
		return sqliteHint(dsn)
	}
	return ""
}

// sqliteHint names why SQLite cannot open its file, "out of memory (14)"
// being its word for most of them.
func sqliteHint(dsn DSN) string {
	path, _, _ := strings.Cut(dsn.Raw, "?")
	dir := path[:max(strings.LastIndex(path, "/"), 0)]
	if dir == "" {
		dir = "."
	}
	if _, err := os.Stat(dir); err != nil {
		return "the directory " + dir + " does not exist: create it, or fix the path in --db"
	}
	return "the file " + path + " cannot be opened: check it and its directory are writable by this user"
}
