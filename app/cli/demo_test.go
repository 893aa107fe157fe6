package cli

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/app/apptest"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The quick start's `gintoki demo`: it seeds its SQLite file, serves it,
// and its simulated feed goes through the in-process broker into the
// cache; on stop the simulator says how many changes it made.
func TestDemoServesAndFollowsItsOwnFeed(t *testing.T) {
	httpAddr := freeAddr(t)
	demo := start(t, "demo", "--demo-db", filepath.Join(t.TempDir(), "demo.db"),
		"--demo-products", "300", "--demo-rate", "200", "--http-addr", httpAddr, "--grpc-addr", freeAddr(t))
	base := "http://" + httpAddr
	polltest.Until(t, 30*time.Second, "demo ready", func() bool { return ready(base) })
	if code, body := get(t, base+"/cache?product_id=300"); code != 200 || !strings.HasPrefix(body, `{"product_id":300,"warehouses":[{"warehouse_code":"WH-001"`) {
		t.Fatalf("/cache?product_id=300: %d %s", code, body)
	}
	if code, _ := get(t, base+"/cache?product_id=301"); code != 404 {
		t.Fatalf("/cache?product_id=301: %d, want 404", code)
	}
	polltest.Until(t, 30*time.Second, "the feed's events applied", func() bool {
		_, body := get(t, base+"/metrics")
		return apptest.MetricSum(body, "gintoki_cdc_events_total") >= 50
	})
	// The simulator's publisher counts on the node's registry too.
	if _, body := get(t, base+"/metrics"); apptest.MetricSum(body, "gintoki_cdc_published_total") < 50 {
		t.Fatalf("gintoki_cdc_published_total %v, want the simulator's events counted", apptest.MetricSum(body, "gintoki_cdc_published_total"))
	}
	demo.shutdown(t)
	m := regexp.MustCompile(`"msg":"change simulator stopped".*"changes":(\d+)`).FindStringSubmatch(demo.stderr.String())
	if m == nil {
		t.Fatalf("no 'change simulator stopped' line with its count; stderr:\n%s", demo.stderr.String())
	}
	if n, _ := strconv.Atoi(m[1]); n < 50 {
		t.Fatalf("the feed reports %d changes, but the node applied at least 50", n)
	}
}
