package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"go.opentelemetry.io/otel/trace"
)

// PoolConfig bounds the connection pool. Zero fields take defaults that suit
// the driver (see Open).
type PoolConfig struct {
	MaxOpen         int
	MaxIdle         int
	ConnMaxLifetime time.Duration
}

// Pool defaults. A SQLite file allows one writer but, in WAL mode, readers
// alongside it, so a few connections are useful there too.
const (
	defaultMySQLMaxOpen     = 16
	defaultMySQLMaxLifetime = 5 * time.Minute
	defaultSQLiteMaxOpen    = 4
	// maxPreparedStatements caps gorm's statement cache. Queries are built
	// so that only a few dozen distinct texts exist; the cap guards the
	// server's own prepared-statement limit should that ever change.
	maxPreparedStatements = 256
)

// Option changes how Open sets up the connection.
type Option func(*options)

type options struct {
	logger logger.Interface
	// driverLog receives the MySQL driver's own lines (a dropped
	// connection, a bad packet); nil keeps the driver's default, plain
	// text on stderr, which would break a JSON log.
	driverLog *slog.Logger
	// lazy: connect on first use, not in Open.
	lazy bool
}

// Lazy makes Open send nothing to the server: no ping, no version query; the
// first statement connects. A node that starts from the change topics must
// start with the database down and must not query it while starting.
func Lazy() Option { return func(o *options) { o.lazy = true } }

// WithLogger logs failed statements and statements slower than slow through
// l, without their arguments. Without this option nothing is logged per
// query.
func WithLogger(l *slog.Logger, slow time.Duration) Option {
	return func(o *options) {
		if l == nil {
			return
		}
		o.driverLog = l.With("component", "mysql-driver")
		o.logger = logger.NewSlogLogger(l, logger.Config{
			LogLevel:                  logger.Warn,
			SlowThreshold:             slow,
			ParameterizedQueries:      true,
			IgnoreRecordNotFoundError: true,
		})
	}
}

// Open connects to the database, checks that it answers within ctx and
// returns a gorm handle with prepared statements and no implicit
// transactions. When tp is not nil every statement gets a client span.
//
// Pool defaults: MySQL 16 open connections, as many idle, recycled after 5
// minutes; SQLite 4 connections kept open. An in-memory SQLite database
// always uses exactly one connection, since each connection would otherwise
// see its own empty database.
func Open(ctx context.Context, dsn DSN, pool PoolConfig, tp trace.TracerProvider, opts ...Option) (*gorm.DB, error) {
	o := options{logger: logger.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	pool, err := pool.withDefaults(dsn)
	if err != nil {
		return nil, err
	}

	var driverName string
	switch dsn.Driver {
	case DriverMySQL:
		driverName = "mysql"
	case DriverSQLite:
		driverName = sqlite.DriverName
	default:
		return nil, fmt.Errorf("open database: unknown driver %q (want %q or %q)", dsn.Driver, DriverMySQL, DriverSQLite)
	}

	sqlDB, err := openSQL(driverName, dsn, o.driverLog)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn.Redacted(), err)
	}
	sqlDB.SetMaxOpenConns(pool.MaxOpen)
	sqlDB.SetMaxIdleConns(pool.MaxIdle)
	sqlDB.SetConnMaxLifetime(pool.ConnMaxLifetime)

	// Ping before gorm initialises the dialect: gorm's first query does not
	// take a context, so a server that is down must be found out here.
	if err := ping(ctx, sqlDB, o.lazy); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("ping %s: %w", dsn.Redacted(), err)
	}

	var dialector gorm.Dialector
	if dsn.Driver == DriverMySQL {
		// Lazily, the server is not asked its version: gorm then assumes a
		// current one, which only its migrator cares about.
		dialector = gormmysql.New(gormmysql.Config{Conn: sqlDB, SkipInitializeWithVersion: o.lazy})
	} else {
		dialector = &sqlite.Dialector{Conn: sqlDB}
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 o.logger,
		PrepareStmt:            true,
		PrepareStmtMaxSize:     maxPreparedStatements,
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("initialise gorm for %s: %w", dsn.Redacted(), err)
	}
	if tp != nil {
		if err := db.Use(newTracing(tp, dsn.Driver)); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("install tracing for %s: %w", dsn.Redacted(), err)
		}
	}
	return db, nil
}

// openSQL opens the pool; a MySQL connector gets log as its driver logger.
func openSQL(driverName string, dsn DSN, log *slog.Logger) (*sql.DB, error) {
	if dsn.Driver != DriverMySQL || log == nil {
		return sql.Open(driverName, dsn.Raw)
	}
	cfg, err := mysql.ParseDSN(dsn.Raw)
	if err != nil {
		return nil, err
	}
	cfg.Logger = driverLogger{log}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// driverLogger is the MySQL driver's Logger on slog: its lines report
// connections lost or refused, worth a warning.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprint(v...)))
}

func ping(ctx context.Context, db *sql.DB, lazy bool) error {
	if lazy {
		return nil
	}
	return db.PingContext(ctx)
}

// Close closes the connection pool behind db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

func (p PoolConfig) withDefaults(dsn DSN) (PoolConfig, error) {
	if p.MaxOpen < 0 || p.MaxIdle < 0 || p.ConnMaxLifetime < 0 {
		return p, errors.New("database pool: max open, max idle and connection lifetime must not be negative")
	}
	if dsn.InMemory() {
		return PoolConfig{MaxOpen: 1, MaxIdle: 1}, nil
	}
	if p.MaxOpen == 0 {
		p.MaxOpen = defaultMySQLMaxOpen
		if dsn.Driver == DriverSQLite {
			p.MaxOpen = defaultSQLiteMaxOpen
		}
	}
	if p.MaxIdle == 0 || p.MaxIdle > p.MaxOpen {
		p.MaxIdle = p.MaxOpen
	}
	if p.ConnMaxLifetime == 0 && dsn.Driver == DriverMySQL {
		p.ConnMaxLifetime = defaultMySQLMaxLifetime
	}
	return p, nil
}

// Dialect names the driver behind db: DriverMySQL or DriverSQLite.
func Dialect(db *gorm.DB) string { return db.Dialector.Name() }
