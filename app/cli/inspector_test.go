package cli

import (
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// A cache ahead of the database heals: a forged event with a huge version,
// and a row whose database version went back with no event (a restore), are
// both answered as the database has them again within 30 s at
// --inspect-interval 2s --inspect-lag-window 1s, and stay so.
func TestInspectorHealsACacheAheadOfTheDatabase(t *testing.T) {
	r := newFeedRig(t)
	r.exec("UPDATE stock_items SET qty_salable=30, version=5 WHERE product_id=2 AND warehouse_id=1")
	base, _ := r.serve("--inspect-interval", "2s", "--inspect-lag-window", "1s")
	polltest.Until(t, 30*time.Second, "ready", func() bool { return ready(base) })
	polltest.Until(t, 3*time.Second, "product 1 cached", answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5")))
	polltest.Until(t, 3*time.Second, "product 2 cached", answers(t, base, 2, inv(2, "WH-B=30")))

	// A forged event with version 9e15, and a restore of product 2's row to
	// an older version, both with no event from the database.
	r.stockEvent(domain.OpUpdate, 1, 2, 666, 9e15, false)
	polltest.Until(t, 3*time.Second, "the forged event served", answers(t, base, 1, inv(1, "WH-A=666", "WH-B=5")))
	r.exec("UPDATE stock_items SET qty_salable=20, version=3 WHERE product_id=2 AND warehouse_id=1")

	began := time.Now()
	polltest.Until(t, 30*time.Second, "both answered as the database has them", func() bool {
		return answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5"))() && answers(t, base, 2, inv(2, "WH-B=20"))()
	})
	t.Logf("healed in %s", time.Since(began).Round(100*time.Millisecond))
	if n := metricValue(t, base, `gintoki_inspector_stale_total{direction="ahead"}`); n != 2 {
		t.Fatalf(`gintoki_inspector_stale_total{direction="ahead"} = %v, want 2`, n)
	}
	// And they stay so, across more inspector rounds.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if !answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5"))() || !answers(t, base, 2, inv(2, "WH-B=20"))() {
			_, b1 := get(t, base+"/cache?product_id=1")
			_, b2 := get(t, base+"/cache?product_id=2")
			t.Fatalf("went wrong again: %s / %s", b1, b2)
		}
	}
}
