package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// A process that cannot start says, in one line, which dependency failed,
// where it is (no password), and what to check.
func TestStartupFailuresNameTheDependencyAndWhatToCheck(t *testing.T) {
	dsn, _ := dbtest.MySQLDSN(t)
	server, err := mysql.ParseDSN(dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	closed := freeAddr(t) // nothing listens there once freeAddr returns
	dir := t.TempDir()
	sqlite := "sqlite://" + filepath.Join(dir, "ok.db")
	if code, _, stderr := runMain("migrate", "--db", sqlite, "--log-level", "error"); code != 0 {
		t.Fatalf("migrate: %d %s", code, stderr)
	}
	wrongPassword := *server
	wrongPassword.User, wrongPassword.Passwd = "gintoki_nobody", "s3cret-never-printed"
	noSuchDB := *server
	noSuchDB.DBName = "gintoki_no_such_db"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"database refused", []string{"serve", "--db", "mysql://root@tcp(" + closed + ")/x"},
			[]string{"open database mysql://root@" + closed + "/x", "connection refused", "is the server running"}},
		{"wrong password", []string{"serve", "--db", "mysql://" + wrongPassword.FormatDSN()},
			[]string{"open database mysql://gintoki_nobody@" + server.Addr, "Access denied", "check the user and password"}},
		{"unknown database", []string{"serve", "--db", "mysql://" + noSuchDB.FormatDSN()},
			[]string{"open database", "gintoki_no_such_db", "does not exist: create it"}},
		{"sqlite file in a missing directory", []string{"serve", "--db", "sqlite://" + filepath.Join(dir, "missing", "x.db")},
			[]string{"open database sqlite://" + filepath.Join(dir, "missing", "x.db"), "the directory " + filepath.Join(dir, "missing") + " does not exist"}},
		{"TLS certificate missing", []string{"serve", "--db", sqlite, "--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")},
			[]string{"--tls-cert", filepath.Join(dir, "none.pem"), "no such file"}},
		{"Kafka CA missing", []string{"serve", "--db", sqlite, "--kafka-brokers", closed, "--kafka-tls", "--kafka-tls-ca", filepath.Join(dir, "ca.pem")},
			[]string{"--kafka-tls-ca", filepath.Join(dir, "ca.pem"), "no such file"}},
		{"schema mapping file missing", []string{"serve", "--db", sqlite, "--schema", filepath.Join(dir, "schema.yaml")},
			[]string{"--schema", filepath.Join(dir, "schema.yaml"), "no such file"}},
		{"schema mapping naming a missing table", []string{"serve", "--db", sqlite, "--schema", writeFile(t, dir, "s.yaml",
			"stock: {table: inventory_levels, product: sku_id, warehouse: location_id, salable: on_hand, version: v}\n")},
			[]string{"schema mapping", "inventory_levels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "error")
			code, _, stderr := runMain(args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code == 0 || len(lines) != 1 {
				t.Fatalf("exit %d, stderr %q: want a failure in one line", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("%q does not say %q", lines[0], w)
				}
			}
			if strings.Contains(stderr, "s3cret") {
				t.Fatalf("the password is printed: %q", stderr)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
