// Package dbtest gives integration tests a migrated database of their own:
// a fresh MariaDB/MySQL schema per test, or a SQLite file in the test's
// temporary directory.
//
// MariaDB is found through GINTOKI_TEST_MYSQL_DSN (a go-sql-driver DSN such
// as "root@tcp(127.0.0.1:3306)/test", optionally prefixed with "mysql://");
// without it a MariaDB container is started when a Docker engine is
// available, and the test is skipped otherwise. Every skip says
// "integration test skipped" so CI can find skips in the test output.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	"github.com/testcontainers/testcontainers-go/wait"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database"
)

// EnvMySQLDSN names the environment variable holding the server to test on.
const EnvMySQLDSN = "GINTOKI_TEST_MYSQL_DSN"

// SkipMessage is what a MariaDB test says when it cannot run.
const SkipMessage = "no " + EnvMySQLDSN + " and no Docker engine: MariaDB integration test skipped"

const (
	containerImage = "mariadb:10.11"
	// The entrypoint first runs a temporary server with networking off
	// ("port: 0"); this line is only logged by the final one.
	containerReadyLog = "port: 3306  mariadb.org binary distribution"
	setupTimeout      = 3 * time.Minute
	testDBPrefix      = "gintoki_test_"
	testPoolMaxOpen   = 8
)

// MySQL returns a migrated, empty database that only this test uses; it is
// dropped when the test ends.
func MySQL(t testing.TB) *gorm.DB {
	t.Helper()
	_, db := MySQLDSN(t)
	return db
}

// MySQLDSN is MySQL that also returns the DSN of the new database, for tests
// that open their own connections (a second instance, a CLI command).
func MySQLDSN(t testing.TB) (database.DSN, *gorm.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	server, err := serverConfig(ctx, t)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}

	name := uniqueName()
	if err := adminExec(ctx, server, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		dropCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(dropCtx, server, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})

	cfg := server.Clone()
	cfg.DBName = name
	dsn, err := database.ParseDSN("mysql://" + cfg.FormatDSN())
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn, openMigrated(ctx, t, dsn)
}

// SQLite returns a migrated database in a file under t.TempDir().
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	_, db := SQLiteDSN(t)
	return db
}

// SQLiteDSN is SQLite that also returns the DSN of the file.
func SQLiteDSN(t testing.TB) (database.DSN, *gorm.DB) {
	t.Helper()
	dsn, err := database.ParseDSN("sqlite://" + filepath.Join(t.TempDir(), "gintoki.db"))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	return dsn, openMigrated(ctx, t, dsn)
}

func openMigrated(ctx context.Context, t testing.TB, dsn database.DSN) *gorm.DB {
	t.Helper()
	db, err := database.Open(ctx, dsn, database.PoolConfig{MaxOpen: testPoolMaxOpen}, nil)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := database.Close(db); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	if err := database.Migrate(ctx, db); err != nil {
		t.Fatalf("dbtest: migrate %s: %v", dsn.Redacted(), err)
	}
	return db
}

// serverConfig finds the server to create test databases on: the one the
// environment names, or a container shared by every test of the process.
func serverConfig(ctx context.Context, t testing.TB) (*mysql.Config, error) {
	t.Helper()
	if raw := strings.TrimSpace(os.Getenv(EnvMySQLDSN)); raw != "" {
		cfg, err := mysql.ParseDSN(strings.TrimPrefix(raw, "mysql://"))
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", EnvMySQLDSN, err)
		}
		return cfg, nil
	}
	if err := dockerHealth(); err != nil {
		t.Skipf("%s (%v)", SkipMessage, err)
	}
	return startContainer(ctx)
}

var (
	dockerOnce sync.Once
	dockerErr  error

	containerOnce sync.Once
	containerCfg  *mysql.Config
	containerErr  error
)

// dockerHealth asks testcontainers whether a Docker engine answers. It does
// what testcontainers.SkipIfProviderIsNotHealthy does, but for testing.TB
// and without skipping, so the skip can carry SkipMessage. Without an engine
// testcontainers panics rather than returning an error, hence the recover.
func dockerHealth() error {
	dockerOnce.Do(func() {
		dockerErr = func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("testcontainers: %v", r)
				}
			}()
			provider, err := testcontainers.ProviderDocker.GetProvider()
			if err != nil {
				return err
			}
			defer provider.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return provider.Health(ctx)
		}()
	})
	return dockerErr
}

// startContainer starts one MariaDB container for the whole test process.
// It is not terminated here: testcontainers' reaper removes it when the
// process exits, so later tests can keep using it.
func startContainer(ctx context.Context) (*mysql.Config, error) {
	containerOnce.Do(func() {
		ctr, err := tcmysql.Run(ctx, containerImage,
			tcmysql.WithUsername("root"),
			tcmysql.WithPassword(""),
			tcmysql.WithDatabase("test"),
			testcontainers.WithWaitStrategyAndDeadline(setupTimeout,
				wait.ForLog(containerReadyLog),
				wait.ForListeningPort("3306/tcp")),
		)
		if err != nil {
			containerErr = fmt.Errorf("start %s container: %w", containerImage, err)
			return
		}
		raw, err := ctr.ConnectionString(ctx)
		if err != nil {
			containerErr = fmt.Errorf("address of %s container: %w", containerImage, err)
			return
		}
		containerCfg, containerErr = mysql.ParseDSN(raw)
	})
	if containerErr != nil {
		return nil, containerErr
	}
	return containerCfg.Clone(), nil
}

func adminExec(ctx context.Context, server *mysql.Config, stmt string) error {
	connector, err := mysql.NewConnector(server)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// uniqueName keeps test packages that run in parallel on one server apart.
func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (Go 1.24+)
	return testDBPrefix + hex.EncodeToString(b[:])
}
