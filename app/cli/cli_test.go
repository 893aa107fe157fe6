package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/infrastructure/buildinfo"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

func runMain(args ...string) (int, string, string) {
	var out, errb logtest.Buffer
	code := Main(args, Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestBadConfigurationExitsTwoWithOneLine(t *testing.T) {
	cases := [][]string{
		{"serve"},
		{"serve", "--db", "sqlite://x.db", "--db-max-open", "-1"},
		{"serve", "--db", "postgres://nope"},
		{"gateway", "--backend", ""},
		{"gateway", "--backend", "127.0.0.1:19090,127.0.0.1:19090"},
		{"gateway", "--backend", "127.0.0.1:19090;127.0.0.1:19091"},
		{"serve", "--db", "sqlite://x.db", "--grpc-drain-period", "10s"},
		{"seed", "--db", "sqlite://x.db", "--warehouses", "0"},
		{"frobnicate"},
	}
	for _, args := range cases {
		code, _, stderr := runMain(args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != ExitUsage || len(lines) != 1 || lines[0] == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, code, stderr)
		}
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	code, out, stderr := runMain("migrate", "--db", "mysql://gintoki:s3cr3t-pw@tcp(127.0.0.1:1)/nowhere", "--db-timeout", "200ms")
	if code == 0 {
		t.Fatal("migrate against a closed port succeeded")
	}
	if strings.Contains(out+stderr, "s3cr3t-pw") {
		t.Fatalf("password printed: %s %s", out, stderr)
	}
}

func TestHelpListsFlagsWithEnvironmentVariables(t *testing.T) {
	code, out, _ := runMain("serve", "--help")
	if code != 0 || !strings.Contains(out, "GINTOKI_HTTP_ADDR") || !strings.Contains(out, "GINTOKI_CACHE_TTL") {
		t.Fatalf("exit %d, help:\n%s", code, out)
	}
	code, _, stderr := runMain()
	if code != ExitUsage || !strings.Contains(stderr, "serve") || !strings.Contains(stderr, "gateway") {
		t.Fatalf("no-args usage: %d %s", code, stderr)
	}
}

func TestMigrateAndSeedSQLite(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	for i := 0; i < 2; i++ { // idempotent
		if code, _, stderr := runMain("migrate", "--db", dsn); code != 0 {
			t.Fatalf("migrate: %d %s", code, stderr)
		}
	}
	code, out, stderr := runMain("seed", "--db", dsn, "--products", "20", "--warehouses", "2")
	if code != 0 || !strings.Contains(out, "seeded 20 products x 2 warehouses (40 stock rows") {
		t.Fatalf("seed: %d %q %s", code, out, stderr)
	}
}

// serve on SQLite, then the gateway in front of it: the same HTTP answers
// through both, gRPC codes mapped back to HTTP statuses.
func TestServeAndGatewayEndToEnd(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	if code, _, stderr := runMain("seed", "--db", dsn, "--products", "50", "--warehouses", "3"); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	serve := start(t, "serve", "--db", dsn, "--http-addr", httpAddr, "--grpc-addr", grpcAddr)
	base := "http://" + httpAddr
	polltest.Until(t, 20*time.Second, "serve ready", func() bool { return ready(base) })

	gwAddr := freeAddr(t)
	start(t, "gateway", "--backend", grpcAddr, "--http-addr", gwAddr)
	gw := "http://" + gwAddr
	polltest.Until(t, 20*time.Second, "gateway ready", func() bool { return ready(gw) })

	for _, b := range []string{base, gw} {
		code, body := get(t, b+"/cache?product_id=7")
		if code != 200 || !strings.HasPrefix(body, `{"product_id":7,"warehouses":[{"warehouse_code":"WH-001","qty_salable":`) {
			t.Fatalf("%s: %d %s", b, code, body)
		}
		if c2, body2 := get(t, b+"/v1/products/7/inventory"); c2 != 200 || body2 != body {
			t.Fatalf("%s: REST path answered %d %s, want the /cache body", b, c2, body2)
		}
		for path, want := range map[string]int{
			"/cache?product_id=51":       404,
			"/cache?product_id=0":        400,
			"/cache?product_id=-3":       400,
			"/cache?product_id=abc":      400,
			"/cache":                     400,
			"/v1/products/x/inventory":   400,
			"/v1/products/999/inventory": 404,
			"/healthz":                   200,
		} {
			if code, body := get(t, b+path); code != want {
				t.Errorf("%s%s: %d %s, want %d", b, path, code, body, want)
			}
		}
		code, body = post(t, b+"/v1/product-inventory", `{"product_ids":[3,9999,1]}`)
		if code != 200 || !strings.HasPrefix(body, `{"data":[{"product_id":3,`) || !strings.HasSuffix(body, `"not_found":[9999]}`) {
			t.Errorf("%s batch: %d %s", b, code, body)
		}
		ids := make([]string, 1001)
		for i := range ids {
			ids[i] = fmt.Sprint(i + 1)
		}
		if code, _ := post(t, b+"/v1/product-inventory", `{"product_ids":[`+strings.Join(ids, ",")+`]}`); code != 400 {
			t.Errorf("%s: 1001 ids answered %d", b, code)
		}
	}

	// gRPC on the read node.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := inventoryv1.NewInventoryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inv, err := client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 7})
	if err != nil || len(inv.GetWarehouses()) != 3 {
		t.Fatalf("grpc get: %v %v", inv, err)
	}
	for id, want := range map[int64]codes.Code{51: codes.NotFound, 0: codes.InvalidArgument, -1: codes.InvalidArgument} {
		_, err := client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: id})
		if status.Code(err) != want {
			t.Errorf("grpc %d: %v, want %v", id, err, want)
		}
	}
	serve.shutdown(t)
}

// Against MariaDB, through a proxy the test can cut: cached keys keep
// answering while the database is away, misses fail fast with 503, and
// everything recovers when it returns. Also: many concurrent clients of one
// cold key cost one query, and --cache=false one query per request.
func TestServeOnMariaDBSurvivesDatabaseLoss(t *testing.T) {
	dsn, db := dbtest.MySQLDSN(t)
	for _, q := range []string{
		"INSERT INTO warehouses (id, code, name, is_active, version, updated_at) VALUES (1,'WH-B','b',1,1,NOW(6)),(2,'WH-A','a',1,1,NOW(6)),(3,'WH-C','c',0,1,NOW(6))",
		"INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (1,1,5,1,NOW(6)),(1,2,12,1,NOW(6)),(1,3,99,1,NOW(6)),(2,1,7,1,NOW(6)),(3,2,1,1,NOW(6)),(4,3,8,1,NOW(6))",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := mysql.ParseDSN(dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := dbtest.NewCutProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr
	viaProxy := "mysql://" + cfg.FormatDSN()

	httpAddr := freeAddr(t)
	start(t, "serve", "--db", viaProxy, "--http-addr", httpAddr, "--grpc-addr", freeAddr(t), "--db-timeout", "500ms")
	base := "http://" + httpAddr
	polltest.Until(t, 20*time.Second, "serve ready", func() bool { return ready(base) })

	code, body := get(t, base+"/cache?product_id=1")
	want := `{"product_id":1,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12},{"warehouse_code":"WH-B","qty_salable":5}]}`
	if code != 200 || body != want {
		t.Fatalf("product 1: %d %s", code, body)
	}
	if code, _ := get(t, base+"/cache?product_id=4"); code != 404 {
		t.Fatalf("product only in an inactive warehouse: %d, want 404", code)
	}

	// 200 concurrent clients on one cold key: one query.
	queries := func() float64 { return metricValue(t, base, `gintoki_db_query_duration_seconds_count{outcome="ok"}`) }
	before := queries()
	var wg sync.WaitGroup
	var bad sync.Map
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := get(t, base+"/cache?product_id=3"); code != 200 {
				bad.Store(code, true)
			}
		}()
	}
	wg.Wait()
	bad.Range(func(k, _ any) bool { t.Errorf("a cold-key client got %v", k); return true })
	if q := queries() - before; q != 1 {
		t.Fatalf("200 clients of one cold key cost %v queries, want 1", q)
	}

	proxy.Cut()
	if code, body := get(t, base+"/cache?product_id=1"); code != 200 || body != want {
		t.Fatalf("cached key with the DB away: %d %s", code, body)
	}
	t0 := time.Now()
	code, body = get(t, base+"/cache?product_id=2")
	if took := time.Since(t0); code != 503 || took > 2*time.Second {
		t.Fatalf("miss with the DB away: %d %s after %s, want 503 within 2s", code, body, took)
	}
	// Ready all the same: the cache answers what it holds, and a database
	// outage is the whole fleet's, which must not lose every backend.
	for i := 0; i < 3; i++ {
		if !ready(base) {
			t.Fatal("not ready with the database away while the cache answers")
		}
		time.Sleep(600 * time.Millisecond) // past the verdict's reuse window
	}

	proxy.Restore(t)
	polltest.Until(t, 20*time.Second, "recovery", func() bool {
		code, _ := get(t, base+"/cache?product_id=2")
		return code == 200
	})
	polltest.Until(t, 10*time.Second, "ready again", func() bool { return ready(base) })

	// --cache=false: one query per request.
	nc := freeAddr(t)
	start(t, "serve", "--db", "mysql://"+dsn.Raw, "--cache=false", "--http-addr", nc, "--grpc-addr", freeAddr(t))
	ncBase := "http://" + nc
	polltest.Until(t, 20*time.Second, "uncached serve ready", func() bool { return ready(ncBase) })
	q0 := metricValue(t, ncBase, `gintoki_db_query_duration_seconds_count{outcome="ok"}`)
	for i := 0; i < 5; i++ {
		if code, body := get(t, ncBase+"/cache?product_id=1"); code != 200 || body != want {
			t.Fatalf("uncached: %d %s", code, body)
		}
	}
	if q := metricValue(t, ncBase, `gintoki_db_query_duration_seconds_count{outcome="ok"}`) - q0; q < 5 {
		t.Fatalf("--cache=false: %v queries for 5 requests", q)
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

func TestVersionPrintsTheBuild(t *testing.T) {
	want := buildinfo.Get().String() + "\n"
	for _, arg := range []string{"version", "--version"} {
		if code, out, stderr := runMain(arg); code != ExitOK || out != want {
			t.Errorf("%s: exit %d, %q %q; want %q", arg, code, out, stderr, want)
		}
	}
	if code, _, stderr := runMain("version", "--short"); code != ExitUsage || strings.Count(stderr, "\n") != 1 {
		t.Errorf("version with an argument: exit %d, %q", code, stderr)
	}
	if code, out, _ := runMain("version", "--help"); code != ExitOK || !strings.Contains(out, "Usage: gintoki version") {
		t.Errorf("version --help: exit %d, %q", code, out)
	}
	if _, _, stderr := runMain(); !strings.Contains(stderr, "  version ") {
		t.Errorf("usage does not list version: %s", stderr)
	}
}
