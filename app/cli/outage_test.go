package cli

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/infrastructure/database/dbtest"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// outageProducts are cached before the database goes away; one more
// (outageProducts+1) exists but is never read.
const outageProducts = 300

// The database down for longer than --max-staleness, as reported: the relay
// loses the binlog, its heartbeats stop, and the node can trust neither its
// feed nor its database. It answers every product it holds, marked stale
// (X-Gintoki-Stale, Age), stays ready, fails only what it never held, and
// once the database is back it is live again with nothing stale left.
//
// The relay and the node reach MariaDB through one proxy the test cuts: to
// them it is a database that stopped (every connection dropped, new ones
// refused), while MariaDB itself stays up for the other tests.
func TestDatabaseDownLongerThanMaxStalenessAnswersHeldEntries(t *testing.T) {
	r := newFeedRig(t)
	var rows []string
	for p := 1; p <= outageProducts+1; p++ {
		rows = append(rows, fmt.Sprintf("(%d,1,%d,1,NOW(6)),(%d,2,%d,1,NOW(6))", 1000+p, p, 1000+p, 1000+p))
	}
	r.exec("INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES " + strings.Join(rows, ","))

	cfg, err := mysql.ParseDSN(strings.TrimPrefix(r.dsn, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := dbtest.NewCutProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr
	viaProxy := "mysql://" + cfg.FormatDSN()

	relayOps := freeAddr(t)
	start(t, "relay", "--db", viaProxy, "--kafka-brokers", r.brokers(), "--cdc-topic-prefix", r.prefix,
		"--snapshot", "never", "--metrics-addr", relayOps, "--relay-heartbeat", "1s", "--log-level", "warn")
	polltest.Until(t, 60*time.Second, "relay streaming", func() bool { return ready("http://" + relayOps) })
	addr, grpcAddr, gwAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, "serve", "--db", viaProxy, "--http-addr", addr, "--grpc-addr", grpcAddr,
		"--kafka-brokers", r.brokers(), "--cdc-topic-prefix", r.prefix, "--cdc-database", r.database,
		"--kafka-group", "itest-"+addr, "--max-staleness", "3s", "--stale-if-error", "2m", "--log-level", "warn")
	base := "http://" + addr
	polltest.Until(t, 60*time.Second, "node ready", func() bool { return ready(base) })
	start(t, "gateway", "--backend", grpcAddr, "--http-addr", gwAddr)
	gw := "http://" + gwAddr
	polltest.Until(t, 30*time.Second, "gateway ready", func() bool { return ready(gw) })
	polltest.Until(t, 30*time.Second, "source heartbeats consumed", func() bool {
		return metricValue(t, base, "gintoki_cdc_source_heartbeats") == 1
	})

	ids := make([]string, outageProducts)
	for i := range ids {
		ids[i] = fmt.Sprint(1001 + i)
	}
	batch := `{"product_ids":[` + strings.Join(ids, ",") + `]}`
	if code, body := post(t, base+"/v1/product-inventory", batch); code != 200 || strings.Contains(body, "not_found\":[1") {
		t.Fatalf("caching the products: %d %s", code, body)
	}
	before := map[string]string{}
	for _, id := range ids {
		_, before[id] = get(t, base+"/cache?product_id="+id)
	}

	proxy.Cut()
	polltest.Until(t, 30*time.Second, "the node bypassing its cache (feed silent for --max-staleness)", func() bool {
		return metricValue(t, base, "gintoki_cache_bypassed") == 1
	})
	for _, id := range ids {
		code, body, h := getWithHeaders(t, base+"/cache?product_id="+id)
		if code != 200 || body != before[id] || h.Get("X-Gintoki-Stale") != "true" || h.Get("Age") == "" || h.Get("Age") == "0" {
			t.Fatalf("product %s with the database down: %d %s (stale %q, Age %q); want %s marked stale",
				id, code, body, h.Get("X-Gintoki-Stale"), h.Get("Age"), before[id])
		}
	}
	if code, _, h := postWithHeaders(t, base+"/v1/product-inventory", batch); code != 200 || h.Get("X-Gintoki-Stale") != "true" {
		t.Fatalf("batch of held products: %d, stale %q", code, h.Get("X-Gintoki-Stale"))
	}
	// Through the gateway the marks come from the node over gRPC.
	if code, body, h := getWithHeaders(t, gw+"/cache?product_id=1002"); code != 200 || body != before["1002"] || h.Get("X-Gintoki-Stale") != "true" || h.Get("Age") == "" {
		t.Fatalf("through the gateway: %d %s (stale %q, Age %q)", code, body, h.Get("X-Gintoki-Stale"), h.Get("Age"))
	}
	if code, _, h := postWithHeaders(t, gw+"/v1/product-inventory", batch); code != 200 || h.Get("X-Gintoki-Stale") != "true" {
		t.Fatalf("batch through the gateway: %d, stale %q", code, h.Get("X-Gintoki-Stale"))
	}
	never := fmt.Sprint(1001 + outageProducts)
	if code, _ := get(t, base+"/cache?product_id="+never); code != http.StatusServiceUnavailable {
		t.Fatalf("a product never cached, database down: %d, want 503", code)
	}
	if !ready(base) {
		t.Fatal("/readyz not ready while held entries answer")
	}
	if n := metricValue(t, base, "gintoki_cache_stale_served_total"); n < 2*outageProducts {
		t.Fatalf("gintoki_cache_stale_served_total = %v, want at least %d", n, 2*outageProducts)
	}

	proxy.Restore(t)
	r.exec("UPDATE stock_items SET qty_salable = 777, version = 2 WHERE product_id = 1001 AND warehouse_id = 1")
	want := `{"product_id":1001,"warehouses":[{"warehouse_code":"WH-A","qty_salable":1001},{"warehouse_code":"WH-B","qty_salable":777}]}`
	polltest.Until(t, 60*time.Second, "the node live again with the write made after the outage", func() bool {
		code, body, h := getWithHeaders(t, base+"/cache?product_id=1001")
		return code == 200 && body == want && h.Get("X-Gintoki-Stale") == "" &&
			metricValue(t, base, "gintoki_cache_bypassed") == 0
	})
	for _, id := range append(ids, never) {
		var want []string
		err := r.db.Raw(`SELECT CONCAT('{"warehouse_code":"', w.code, '","qty_salable":', s.qty_salable, '}')
			FROM stock_items s JOIN warehouses w ON w.id = s.warehouse_id WHERE s.product_id = ? ORDER BY w.code`, id).Scan(&want).Error
		if err != nil {
			t.Fatal(err)
		}
		exp := `{"product_id":` + id + `,"warehouses":[` + strings.Join(want, ",") + `]}`
		if code, body, h := getWithHeaders(t, base+"/cache?product_id="+id); code != 200 || body != exp || h.Get("X-Gintoki-Stale") != "" {
			t.Fatalf("product %s after the outage: %d %s (stale %q), database has %s", id, code, body, h.Get("X-Gintoki-Stale"), exp)
		}
	}
}
