package relaymod

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/app/apptest"
)

// The crash test runs the relay in a child process (this test binary,
// re-executed) so it can be killed with SIGKILL: no deferred flush, no
// final checkpoint, exactly what a crash leaves behind.
const childReadyLine = "relay-ready"

func TestMain(m *testing.M) {
	apptest.RunAsChild(runChild)
	os.Exit(m.Run())
}

// runChild runs a relay until SIGTERM (graceful) or SIGKILL, and prints
// childReadyLine once it streams.
func runChild(raw string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, cleanup, err := newRelay(cfg, prometheus.NewRegistry(), log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child relay:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		for r.Ready() != nil {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println(childReadyLine)
	}()
	err = r.Run(ctx)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child relay:", err)
		return 1
	}
	return 0
}

// startChild starts a relay process and returns once it streams.
func startChild(t *testing.T, cfg Config) *apptest.Child {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := apptest.Start(t, string(raw))
	c.WaitUntil(t, "relay process streaming", testDeadline, func() bool {
		return strings.Contains(c.Stdout(), childReadyLine)
	})
	return c
}

// TestRelayKilledMidStreamLosesNothing: SIGKILL the relay while updates
// flow, keep writing while it is down, start it again: every update is on
// the topic (some possibly twice). Then a graceful stop saves the
// checkpoint, so the next start re-sends nothing.
func TestRelayKilledMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 2)
	const products = 20
	for p := 1; p <= products; p++ {
		h.exec(fmt.Sprintf("INSERT INTO stock_items VALUES (%d,1,0,0,'%s')", p, t1))
	}
	cfg := h.cfg
	cfg.Snapshot = "never"
	version := 0
	update := func(n int) {
		for range n {
			version++
			h.exec(fmt.Sprintf("UPDATE stock_items SET qty_salable=%d, version=%d WHERE product_id=%d AND warehouse_id=1",
				version, version, version%products+1))
		}
	}

	first := startChild(t, cfg)
	update(300)
	// Killed with changes in flight: some published and not yet
	// checkpointed, some not read at all.
	first.Kill()
	update(100) // while no relay runs
	// Checkpoints of this one come from its graceful stop alone, which
	// the end of the test checks.
	cfg.CheckpointEvery = time.Hour
	second := startChild(t, cfg)
	update(100)

	topic := h.topic("stock_items")
	seen := waitForVersions(t, h.broker.Addrs(), topic, version)
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("after SIGKILL and restart: %d updates on the topic, %d sent twice (at least once)", version, dups)

	// Graceful stop: the final checkpoint makes the next start resume
	// exactly where this one ended.
	if err := second.Terminate(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, second.Stderr())
	}
	before := topicSize(t, h.broker.Addrs(), topic)
	startChild(t, cfg)
	update(1)
	waitForVersions(t, h.broker.Addrs(), topic, version)
	if after := topicSize(t, h.broker.Addrs(), topic); after != before+1 {
		t.Errorf("after a graceful stop and restart the topic grew by %d messages for 1 update; the checkpoint was not saved at stop", after-before)
	}
}

// waitForVersions reads topic until updates 1..n are all there and returns
// how often each was seen.
func waitForVersions(t *testing.T, brokers []string, topic string, n int) map[int64]int {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for {
		seen := map[int64]int{}
		for _, m := range readAll(t, brokers, topic) {
			env, err := debezium.DecodeEnvelope(m.Value)
			if err != nil || env.Op != 'u' {
				continue
			}
			var row struct{ Version int64 }
			if err := json.Unmarshal(env.After, &row); err != nil {
				t.Fatal(err)
			}
			seen[row.Version]++
		}
		var missing []string
		for v := int64(1); v <= int64(n); v++ {
			if seen[v] == 0 {
				missing = append(missing, fmt.Sprint(v))
			}
		}
		if len(missing) == 0 {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d updates never reached %s: %s", len(missing), n, topic, strings.Join(missing[:min(len(missing), 20)], ","))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
