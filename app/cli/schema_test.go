package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The shop: its own tables and the mapping file that names them.
const (
	shopYAML = `stock: {table: inventory_levels, product: sku_id, warehouse: location_id, salable: on_hand - reserved, version: ""}
warehouses: {table: locations, id: id, code: code, active: enabled, version: ""}
`
	shopLocations = "CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL UNIQUE, enabled TINYINT(1) NOT NULL)"
	shopLevels    = "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, updated_at TIMESTAMP(3) NOT NULL, PRIMARY KEY (sku_id, location_id))"
)

func writeSchema(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(path, []byte(shopYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// migrate and seed make and fill gintoki's own tables; given a mapping, by
// flag or by the GINTOKI_SCHEMA serve is configured with, they stop as any
// configuration error does (exit 2, one line) and touch no database.
func TestMigrateAndSeedRefuseASchemaMapping(t *testing.T) {
	schema := writeSchema(t)
	dbFile := filepath.Join(t.TempDir(), "shop.db")
	for _, cmd := range []string{"migrate", "seed"} {
		for _, env := range []map[string]string{nil, {"GINTOKI_SCHEMA": schema}} {
			args := []string{cmd, "--db", "sqlite://" + dbFile}
			if env == nil {
				args = append(args, "--schema", schema)
			}
			var out, errb strings.Builder
			code := Main(args, Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
			stderr := errb.String()
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 ||
				!strings.HasPrefix(stderr, "gintoki "+cmd+": --schema "+schema+": "+cmd+" creates and fills gintoki's own tables") ||
				!strings.Contains(stderr, "run it without --schema") {
				t.Errorf("%v %v: exit %d, stderr %q", args, env, code, stderr)
			}
		}
	}
	if _, err := os.Stat(dbFile); !os.IsNotExist(err) {
		t.Errorf("the database was opened: %v", err)
	}
}

// serve checks the mapping against the database before it answers anything,
// and stops with the reason on its last line.
func TestServeStopsAtStartOnAMappingTheDatabaseCannotServe(t *testing.T) {
	schema := writeSchema(t)
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	if code, _, stderr := runMain("migrate", "--db", dsn); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	serve := func() (int, string) {
		t.Helper()
		p := &process{stop: make(chan os.Signal, 1), done: make(chan int, 1), stderr: &logtest.Buffer{}}
		args := []string{"serve", "--db", dsn, "--schema", schema, "--http-addr", freeAddr(t), "--grpc-addr", freeAddr(t)}
		go func() {
			p.done <- Main(args, Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: p.stderr, Signals: p.stop})
		}()
		select {
		case code := <-p.done:
			lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
			return code, lines[len(lines)-1]
		case <-time.After(30 * time.Second):
			p.stop <- os.Interrupt
			<-p.done
			t.Fatalf("serve started with a mapping it cannot serve; stderr:\n%s", p.stderr.String())
			return 0, ""
		}
	}
	code, last := serve()
	if want := "gintoki serve: schema mapping: stock.table: there is no table inventory_levels in the database"; code != ExitFailed || last != want {
		t.Fatalf("exit %d, last line %q; want 1 and %q", code, last, want)
	}

	parsed, err := database.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(context.Background(), parsed, database.PoolConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{shopLocations, shopLevels} {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := database.Close(db); err != nil {
		t.Fatal(err)
	}
	code, last = serve()
	if code != ExitFailed || !strings.HasPrefix(last, "gintoki serve: schema mapping: stock.version and warehouses.version are empty") ||
		!strings.HasSuffix(last, "but SQLite keeps no binlog: add a version column to the mapping (a column that grows with every write of a row)") {
		t.Fatalf("exit %d, last line %q", code, last)
	}
}

// The shop, served: salable is on_hand - reserved (negative as it
// is), an inactive location is left out, codes come from locations.
func TestServeReadsTheShopsTables(t *testing.T) {
	dsn, db := dbtest.MySQLDSN(t)
	for _, q := range []string{
		shopLocations, shopLevels,
		"INSERT INTO locations VALUES (1, 'NYC', 1), (2, 'LA', 0), (3, 'SF', 1)",
		"INSERT INTO inventory_levels VALUES (1, 1, 10, 3, NOW(3)), (1, 2, 5, 0, NOW(3)), (1, 3, 2, 5, NOW(3)), (2, 2, 4, 0, NOW(3))",
		// gintoki's own tables hold other numbers for the same product.
		"INSERT INTO warehouses (id, code, name, is_active, version, updated_at) VALUES (1, 'WH-001', 'w', 1, 1, NOW(6))",
		"INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (1, 1, 999, 1, NOW(6))",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	httpAddr := freeAddr(t)
	start(t, "serve", "--db", "mysql://"+dsn.Raw, "--schema", writeSchema(t), "--http-addr", httpAddr, "--grpc-addr", freeAddr(t))
	base := "http://" + httpAddr
	polltest.Until(t, 20*time.Second, "serve ready", func() bool { return ready(base) })
	want := `{"product_id":1,"warehouses":[{"warehouse_code":"NYC","qty_salable":7},{"warehouse_code":"SF","qty_salable":-3}]}`
	if code, body := get(t, base+"/cache?product_id=1"); code != 200 || body != want {
		t.Errorf("product 1: %d %s, want %s", code, body, want)
	}
	if code, body := get(t, base+"/cache?product_id=2"); code != 404 {
		t.Errorf("product 2, stocked only in an inactive location: %d %s, want 404", code, body)
	}
}
