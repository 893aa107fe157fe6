package feedrecovery

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

// bypassSlack is how much later than --max-staleness a node may bypass its
// cache: it checks every 0.5 s, the test polls its metrics, and the machine
// runs the race detector.
const bypassSlack = 2 * time.Second

// The relay stops 2 s after it started, before the node read a heartbeat,
// and never comes back, while the database is written. With heartbeats
// required, the node counts the source's silence from its own start: it
// flushes and bypasses its cache within --max-staleness of the relay's
// death, says so at WARN, stays ready (it answers from the database), and
// every answer equals the database. Without the requirement the node stayed
// live on a cache nothing corrected.
func TestRelayDeadBeforeItsFirstHeartbeat(t *testing.T) {
	// Long enough for the node to be live, on its cache, when the relay dies.
	const staleness = 5 * time.Second
	f := newFeed(t, "early", []string{"--source-heartbeats", "required", "--max-staleness", staleness.String()})
	n := f.Nodes[0]
	f.startNode(n)
	f.warm(n)
	f.SpawnRelay()
	launched := time.Now()
	time.Sleep(time.Until(launched.Add(2 * time.Second)))
	state := f.metric(n, "gintoki_cdc_state")
	f.Relay.Kill()
	died := time.Now()
	read := f.metric(n, `gintoki_cdc_events_total{outcome="heartbeat",topic="__debezium-heartbeat.early"}`)
	f.writer.start()

	bypassed := f.waitState(n, stale, 3*staleness)
	t.Logf("relay killed %s after its start, the node in feed state %v having read %v heartbeats; node bypassing its cache %s after the relay's death",
		died.Sub(launched).Round(100*time.Millisecond), state, max(read, 0), bypassed.Sub(died).Round(100*time.Millisecond))
	if late := bypassed.Sub(died); late > staleness+bypassSlack {
		t.Errorf("the node bypassed its cache %s after the relay died, want within --max-staleness %s (+%s)", late, staleness, bypassSlack)
	}
	if code, body, err := f.Get(n.Base() + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("/readyz %d %s %v: a node whose cache is bypassed answers from the database and stays ready", code, body, err)
	}
	if v := f.metric(n, "gintoki_cdc_source_heartbeats"); v != 1 {
		t.Errorf("gintoki_cdc_source_heartbeats = %v, want 1 (required)", v)
	}
	if w := warnings(n, "change feed stale"); len(w) == 0 || !strings.Contains(w[0], "no source heartbeat") {
		t.Errorf("the switch to bypass was not a warning naming the source: %q", w)
	}
	time.Sleep(2 * time.Second) // writes the relay never publishes
	// Nothing drains with the relay dead: a bypassed node reads the database.
	f.writer.stop()
	f.compare(n)
	if s := f.metric(n, "gintoki_cdc_state"); s != stale {
		t.Errorf("gintoki_cdc_state = %v after the comparison, want %v: the relay is still dead", s, stale)
	}
}

// The broker comes back empty (a replaced cluster on the same address:
// topics gone, offsets gone, automatic topic creation on) after an outage
// long enough to make the nodes bypass their caches, and the relay, killed
// meanwhile, starts again and snapshots (its checkpoint went with the
// cluster). Each node sees the gap, flushes, creates its control topic
// again, consumes the new topics from their start (the relay's new
// snapshot included, though the node's session began after it did) and is
// live again by itself, once the source's heartbeats are back. At the
// start, nodes started just before the relay: the node with heartbeats on
// auto reads them in time and warns of nothing.
func TestBrokerBackEmpty(t *testing.T) {
	staleness := "--max-staleness=" + shortStaleness.String()
	f := newFeed(t, "empty", []string{"--source-heartbeats", "required", staleness}, []string{"--source-heartbeats", "auto", staleness})
	req, auto := f.Nodes[0], f.Nodes[1]
	for _, n := range f.Nodes {
		f.StartNode(n)
	}
	started := time.Now()
	f.StartRelay()
	for _, n := range f.Nodes {
		f.waitState(n, live, settleLimit)
		n.Child.WaitUntil(t, n.Name+" requiring heartbeats", settleLimit, func() bool {
			return f.metric(n, "gintoki_cdc_source_heartbeats") == 1
		})
		f.warm(n)
	}
	f.writer.start()
	time.Sleep(time.Until(started.Add(12 * time.Second))) // past auto's grace, max(3s, 10s)
	if w := warnings(auto, "heartbeat"); len(w) > 0 {
		t.Errorf("a normal start warned about heartbeats: %q", w)
	}

	before := map[string]float64{}
	for _, n := range f.Nodes {
		before[n.Name] = f.stockEvents(n)
	}
	f.StopBroker()
	f.Relay.Kill()
	for _, n := range f.Nodes {
		f.waitState(n, stale, settleLimit)
	}
	f.RestartBrokerEmpty()
	back := time.Now()
	f.StartRelay()
	for _, n := range []*rig.Node{req, auto} {
		at := f.waitState(n, live, settleLimit)
		t.Logf("%s live again %s after the broker came back empty (the relay snapshotting again meanwhile)", n.Name, at.Sub(back).Round(100*time.Millisecond))
		if len(warnings(n, "change feed gap")) == 0 {
			t.Errorf("%s reported no gap", n.Name)
		}
	}
	topics, err := kafkatest.Topics([]string{f.Brokers()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(topics, fleetcontrol.Topic("empty")) {
		t.Errorf("the control topic was not created again: topics %v", topics)
	}
	f.equalsDB(f.Nodes...)
	for _, n := range f.Nodes {
		if read := f.stockEvents(n) - before[n.Name]; read < products*warehouses {
			t.Errorf("%s read %v stock events from the new broker, fewer than the relay's snapshot (%d rows): it did not start at the new topic's start",
				n.Name, read, products*warehouses)
		}
	}
}

// stockEvents is how many stock events n has handled, whatever their
// outcome.
func (f *feed) stockEvents(n *rig.Node) float64 {
	var sum float64
	for _, l := range strings.Split(f.Metrics(n.Base()), "\n") {
		if strings.HasPrefix(l, "gintoki_cdc_events_total{") && strings.Contains(l, `topic="`+f.StockTopic+`"`) {
			if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// A change topic deleted and created again while the node is frozen: what
// the old topic held and the node had not read is gone. The node sees the
// gap, flushes, and goes on with the new topic from its start; staleness
// (30 s here) never comes into it.
func TestChangeTopicDeletedAndCreatedAgain(t *testing.T) {
	f := newFeed(t, "recreated", nil)
	f.whileFrozen(f.Nodes[0], func(brokers []string) error {
		if err := kafkatest.DeleteTopic(brokers, f.StockTopic); err != nil {
			return err
		}
		return kafkabroker.CreateTopics(brokers, partitions, f.StockTopic)
	})
}

// Retention deleted what the frozen node was about to read: its next
// fetch is out of range. The node sees the gap, flushes, and goes on from
// the oldest offset the broker still has.
func TestOffsetsOutOfRange(t *testing.T) {
	f := newFeed(t, "retention", nil)
	f.whileFrozen(f.Nodes[0], func(brokers []string) error {
		ends, err := kafkatest.EndOffsets(brokers, f.StockTopic)
		if err != nil {
			return err
		}
		return kafkatest.DeleteRecords(brokers, f.StockTopic, ends)
	})
}

// whileFrozen runs the relay and node n, with the writer on and n's cache
// warm, freezes n for 2 s of changes it has not read, does lose to the
// broker, and lets n run again: n must report a gap, and then equal the
// database.
func (f *feed) whileFrozen(n *rig.Node, lose func(brokers []string) error) {
	f.t.Helper()
	f.StartRelay()
	f.startNode(n)
	f.warm(n)
	f.writer.start()
	if err := n.Child.Pause(); err != nil {
		f.t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := lose([]string{f.Brokers()}); err != nil {
		f.t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := n.Child.Resume(); err != nil {
		f.t.Fatal(err)
	}
	n.Child.WaitUntil(f.t, n.Name+" reporting the gap", settleLimit, func() bool { return len(warnings(n, "change feed gap")) > 0 })
	f.t.Logf("gap: %s", warnings(n, "change feed gap")[0])
	f.equalsDB(n)
}
