package relaymod

import (
	"fmt"
	"testing"

	"github.com/gintoki/gintoki/usecase/relay"
)

// TestLagGrowsWhileMySQLIsUnreachable: the relay reaches MySQL through a
// proxy the test cuts. While it cannot read the binlog its lag must grow
// (it used to keep the value of the last acknowledgement, near 0), and once
// MySQL is back it falls to near zero again.
func TestLagGrowsWhileMySQLIsUnreachable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	cfg, proxy := h.cutOff()
	rr := startRelay(t, cfg)
	lag := func() float64 { return gauge(t, rr.reg, "gintoki_relay_lag_seconds") }
	// Heartbeats every cfg.Heartbeat (1 s) keep an idle relay's lag low.
	waitFor(t, "lag near zero while reading", func() bool { return lag() < 2 }, rr.done)

	proxy.Cut()
	waitFor(t, "reconnecting", func() bool {
		return gauge(t, rr.reg, "gintoki_relay_state") == float64(relay.StateReconnecting)
	}, rr.done)
	waitFor(t, "lag above 3 s", func() bool { return lag() > 3 }, rr.done)
	first := lag()
	waitFor(t, "lag still growing", func() bool { return lag() > first+1 }, rr.done)
	if n := counted(t, rr.reg, "gintoki_relay_errors_total", "stage", "mysql"); n < 1 {
		t.Errorf("mysql errors counted %v while cut off", n)
	}

	proxy.Restore(t)
	h.exec(fmt.Sprintf("INSERT INTO stock_items VALUES (1,1,5,1,'%s')", t1))
	waitFor(t, "streaming again", func() bool { return rr.relay.Ready() == nil }, rr.done)
	waitFor(t, "lag near zero again", func() bool { return lag() < 2 }, rr.done)
}
