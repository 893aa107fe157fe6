package kafkaconsumer

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/usecase/changefeed"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

const testControlTopic = "__gintoki-control.dbz"

func withControl(topic string) harnessOption {
	return func(c *Config, _ *Options) { c.ControlTopic = topic }
}

// The control topic is created when missing and consumed like the feed: a
// flush command written once reaches every instance (each has its own
// group), a malformed record is poison and an unknown command is skipped,
// neither stopping the partition.
func TestControlTopicReachesEveryInstance(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	nodes := []*harness{
		newHarness(t, b.Addrs(), uniqueGroup(t)+"-a", withControl(testControlTopic)),
		newHarness(t, b.Addrs(), uniqueGroup(t)+"-b", withControl(testControlTopic)),
	}
	for _, h := range nodes {
		h.start(t)
		h.waitSessions(t, 1)
	}
	ctrl := changefeed.Partition{Topic: testControlTopic, Partition: 0}
	for i, h := range nodes {
		if ps := h.feed.sessionStarts(); !slices.Contains(ps[len(ps)-1].assigned, ctrl) || !ps[len(ps)-1].complete {
			t.Fatalf("node %d does not own the control partition: %+v", i, ps[len(ps)-1])
		}
	}

	client := newClient(t, b.Addrs())
	cmd := fleetcontrol.NewFlush("restored from backup", time.Now())
	if _, _, err := fleetcontrol.Send(context.Background(), client, testControlTopic, cmd); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, b.Addrs())
	p.send(testControlTopic, 0, []byte("flush"), []byte("not json"))
	p.send(testControlTopic, 0, []byte("x"), []byte(`{"action":"reboot","id":"1"}`))
	if _, _, err := fleetcontrol.Send(context.Background(), client, testControlTopic, fleetcontrol.NewFlush("again", time.Now())); err != nil {
		t.Fatal(err)
	}
	for i, h := range nodes {
		polltest.Until(t, 10*time.Second, "four control records handled", func() bool { return len(h.feed.handledOffsets(ctrl)) == 4 })
		if n := h.applier.fullFlushCount(); n != 2 {
			t.Errorf("node %d flushed %d times, want 2", i, n)
		}
		h.feed.mu.Lock()
		if h.feed.flushes != 2 {
			t.Errorf("node %d told the feed of %d flushes, want 2: what it proved of the cache must be forgotten", i, h.feed.flushes)
		}
		h.feed.mu.Unlock()
		for outcome, want := range map[string]float64{"flushed": 2, "poison": 1, "skipped": 1} {
			if got := h.events(testControlTopic, outcome); got != want {
				t.Errorf("node %d: %s{topic=%s,outcome=%s} = %v, want %v", i, EventsTotalName, testControlTopic, outcome, got, want)
			}
		}
	}
}

func newClient(t *testing.T, brokers []string) sarama.Client {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	c, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
