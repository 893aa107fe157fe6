package relayproof

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// TestRelayStoppedForGoodStaysUp: a relay streaming when it meets what
// reconnecting cannot fix (here a column of a type it cannot capture, added
// while it runs) logs one ERROR with the reason and the fix, and does not
// vanish: the process keeps serving its metrics listener with the stop on
// /metrics and /readyz and itself alive on /healthz, until SIGTERM, after
// which it exits with a failure status.
func TestRelayStoppedForGoodStaysUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the relay as a process")
	}
	t.Parallel()
	dsn, gdb := dbtest.MySQLDSN(t)
	if _, err := database.Seed(t.Context(), gdb, 5, 2); err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: "stop", Partitions: 1})
	dbtest.RowMetadataFull(t, p.DB)
	p.StartRelay()
	for _, q := range []string{
		"ALTER TABLE stock_items ADD COLUMN grade ENUM('a','b') NULL",
		"UPDATE stock_items SET qty_salable = qty_salable + 1, version = version + 1, grade = 'a' WHERE product_id = 1",
	} {
		if _, err := p.DB.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var reason string
	p.Relay.WaitUntil(t, "the relay stopped for good", drainLimit, func() bool {
		var stopped bool
		reason, stopped = p.RelayStopped()
		return stopped
	})
	if reason != "unsupported" {
		t.Errorf("stopped for %q, want unsupported", reason)
	}
	p.StayUp(2 * time.Second)

	metrics := p.Metrics(p.RelayBase())
	if v, ok := apptest.Metric(metrics, "gintoki_relay_state"); !ok || v != 4 {
		t.Errorf("gintoki_relay_state %v (%v), want 4 (stopped)", v, ok)
	}
	if code, body, err := p.Get(p.RelayBase() + "/readyz"); err != nil || code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "stopped for good (unsupported)") || !strings.Contains(body, "column grade has type enum") {
		t.Errorf("/readyz: %d %q %v; want 503 with the reason and the column", code, body, err)
	}
	if !p.OK(p.RelayBase() + "/healthz") {
		t.Error("/healthz does not answer 200: the process is alive and must say so")
	}
	var errorLines []string
	for _, l := range strings.Split(p.Relay.Stderr(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			errorLines = append(errorLines, l)
		}
	}
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "reason=unsupported") ||
		!strings.Contains(errorLines[0], "column grade has type enum") || !strings.Contains(errorLines[0], "fix=") {
		t.Errorf("ERROR lines %q; want one with the reason, the error and the fix", errorLines)
	}

	err := p.Relay.Terminate()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("after SIGTERM the relay exited with %v; want a failure status", err)
	}
}
