package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// One `gintoki flush` reaches every read node: after a restore from a backup
// (versions went back, no event says so) both nodes serve the database's
// rows again, warehouses included; the command is safe to repeat.
func TestFlushReachesEveryReadNode(t *testing.T) {
	r := newFeedRig(t)
	a, _ := r.serve()
	b, _ := r.serve()
	for _, base := range []string{a, b} {
		polltest.Until(t, 30*time.Second, "ready", func() bool { return ready(base) })
		polltest.Until(t, 3*time.Second, "product 1 cached", answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5")))
	}
	// The restore: older versions, a renamed warehouse; no event.
	r.exec("UPDATE stock_items SET qty_salable=3, version=0 WHERE product_id=1 AND warehouse_id=2")
	r.exec("UPDATE warehouses SET code='WH-OLD', version=0 WHERE id=1")
	for _, base := range []string{a, b} {
		if !answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5"))() {
			t.Fatal("the cache did not hold the old answer before the flush")
		}
	}
	for i := 0; i < 2; i++ {
		p := start(t, "flush", "--kafka-brokers", r.brokers(), "--cdc-topic-prefix", r.prefix, "--reason", "restored from backup", "--log-level", "warn")
		select {
		case code := <-p.done:
			p.done <- code
			if code != 0 || !strings.Contains(p.stdout.String(), "written to __gintoki-control."+r.prefix) {
				t.Fatalf("flush exited %d: %s %s", code, p.stdout.String(), p.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("flush did not finish")
		}
		for _, base := range []string{a, b} {
			flushes := func() bool {
				return metricValue(t, base, `gintoki_cdc_events_total{outcome="flushed",topic="__gintoki-control.`+r.prefix+`"}`) == float64(i+1)
			}
			polltest.Until(t, 10*time.Second, "the flush counted", flushes)
			polltest.Until(t, 10*time.Second, "the database's answer", answers(t, base, 1, inv(1, "WH-A=3", "WH-OLD=5")))
		}
	}
}
