package kafkaconsumer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
	"github.com/gintoki/gintoki/usecase/changefeed"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// topicsOn lists the broker's topics.
func topicsOn(t *testing.T, brokers []string) []string {
	t.Helper()
	got, err := kafkatest.Topics(brokers)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// autoCreates proves the broker creates a topic that a metadata request
// allowing it names, so a topic the consumer never created is its doing.
func autoCreates(t *testing.T, brokers []string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Metadata.AllowAutoTopicCreation = true
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.RefreshMetadata("canary"); err != nil {
		t.Fatalf("the broker did not create a topic a metadata request asked for: %v", err)
	}
}

// consuming starts a consumer on brokers and has it apply versions 1..3 of
// product 1 (stock/0, offsets 0..2): a process that has read part of the
// feed, so losing the rest is a gap.
func consuming(t *testing.T, brokers []string, opts ...harnessOption) (*harness, *producer, sessionStart) {
	t.Helper()
	h := newHarness(t, brokers, uniqueGroup(t), opts...)
	h.start(t)
	first := h.waitSessions(t, 1)
	p := newProducer(t, brokers)
	for v := uint64(1); v <= 3; v++ {
		p.stock(0, 1, v)
	}
	polltest.Until(t, 10*time.Second, "the first events applied", func() bool { return len(h.applier.stockChanges()) == 3 })
	return h, p, first
}

// appliedAll reports whether every version from..to was applied.
func appliedAll(got []uint64, from, to uint64) bool {
	for v := from; v <= to; v++ {
		if !slices.Contains(got, v) {
			return false
		}
	}
	return true
}

func gapsOn(f *fakeFeed, topic string) []gapCall {
	var out []gapCall
	for _, g := range f.gapList() {
		if g.p.Topic == topic {
			out = append(out, g)
		}
	}
	return out
}

// On a broker that creates topics on request (Kafka's default), the consumer
// creates none of the topics it only reads: not a table it waits for, not
// the heartbeat topic it looks for every poll, not a table deleted under it
// (which its end-offset polls and its group keep asking about). The oldest
// protocol it accepts, 0.11.0, is the first whose metadata request can say
// so.
func TestNeverCreatesATopicItReads(t *testing.T) {
	for _, version := range []string{"2.8.0", "0.11.0.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, kafkabroker.AutoCreateTopics(), kafkabroker.Topics(2, testStockTopic))
			autoCreates(t, b.Addrs())
			h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic),
				func(c *Config, _ *Options) { c.Version = version })
			h.start(t)
			polltest.Until(t, 15*time.Second, "the missing warehouse topic reported twice", func() bool {
				return len(h.feed.missingTopics()) >= 2
			})
			if err := kafkabroker.CreateTopics(b.Addrs(), 1, testWarehouseTopic); err != nil {
				t.Fatal(err)
			}
			h.waitSessions(t, 1)
			polltest.Until(t, 10*time.Second, "five end-offset polls", func() bool { return len(h.feed.contactList()) >= 5 })

			if err := kafkatest.DeleteTopic(b.Addrs(), testStockTopic); err != nil {
				t.Fatal(err)
			}
			polltest.Until(t, 15*time.Second, "the deleted stock topic reported missing", func() bool {
				return slices.Contains(h.feed.missingTopics(), testStockTopic)
			})
			time.Sleep(time.Second) // more looks at it
			got := topicsOn(t, b.Addrs())
			for _, topic := range []string{testStockTopic, testHeartbeatTopic} {
				if slices.Contains(got, topic) {
					t.Errorf("the consumer created %s: topics are %v", topic, got)
				}
			}
		})
	}
}

// A topic deleted and created again while the broker stays up is a gap,
// and the consumer goes on from the new topic's start, even when the new
// topic already holds more records than the old one had been read to: only
// its topic id tells it from the old one then.
func TestTopicDeletedAndCreatedAgain(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h, p, _ := consuming(t, b.Addrs())
	if err := kafkatest.DeleteTopic(b.Addrs(), testStockTopic); err != nil {
		t.Fatal(err)
	}
	if err := kafkabroker.CreateTopics(b.Addrs(), 2, testStockTopic); err != nil {
		t.Fatal(err)
	}
	for v := uint64(10); v <= 15; v++ {
		p.stock(0, 1, v) // offsets 0..5 of the new topic: past the old position 3
	}
	polltest.Until(t, 20*time.Second, "every event of the new topic applied, none skipped", func() bool {
		return appliedAll(h.applier.stockVersions(1), 10, 15)
	})
	gaps := gapsOn(h.feed, testStockTopic)
	if len(gaps) == 0 {
		t.Fatal("no gap on the stock topic")
	}
	for _, g := range gaps {
		if !strings.Contains(g.reason, "deleted") && !strings.Contains(g.reason, "committed offset") {
			t.Errorf("gap reason %q", g.reason)
		}
	}
	if g := gapsOn(h.feed, testWarehouseTopic); len(g) != 0 {
		t.Errorf("gaps on the untouched warehouse topic: %v", g)
	}
}

// Retention deleted what the consumer was about to read: its committed
// offset is out of range. A gap, and the claim continues from the oldest
// offset the broker still has, skipping only what is gone.
func TestOffsetOutOfRangeContinuesFromTheOldestOffset(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h, p, _ := consuming(t, b.Addrs())
	h.stop(t)

	for v := uint64(4); v <= 8; v++ {
		p.stock(0, 1, v) // offsets 3..7
	}
	// 3..5 gone before they were read
	if err := kafkatest.DeleteRecords(b.Addrs(), testStockTopic, map[int32]int64{0: 6}); err != nil {
		t.Fatal(err)
	}

	h.start(t)
	s := h.waitSessions(t, 2)
	if got := s.starts[stockPart(0)]; got != 6 {
		t.Errorf("the session after the deletion starts stock/0 at %d, want the oldest offset left, 6", got)
	}
	polltest.Until(t, 10*time.Second, "the events left applied", func() bool { return len(h.applier.stockChanges()) == 5 })
	if got := h.applier.stockVersions(1); !slices.Equal(got, []uint64{1, 2, 3, 7, 8}) {
		t.Errorf("versions applied %v, want 1 2 3 and the two left after the deletion, 7 8", got)
	}
	gaps := gapsOn(h.feed, testStockTopic)
	if len(gaps) != 1 || gaps[0].p != stockPart(0) || !strings.Contains(gaps[0].reason, "restarted at the oldest offset 6") {
		t.Errorf("gaps %v, want one on stock/0 restarting at the oldest offset 6", gaps)
	}
}

// The broker comes back empty (a new cluster on the same address, topics
// created again, committed offsets gone; Kafka's automatic topic creation
// on): a gap; the consumer creates its control topic again and consumes
// the new tables from their start, without the heartbeat topic until it
// exists, which it never creates; once the source makes it, it is read from
// its start.
func TestEmptyBrokerIsAGapAndEverythingItHoldsIsRead(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	b := standardBroker(t, kafkabroker.Port(port), kafkabroker.Topics(1, testHeartbeatTopic))
	h, _, first := consuming(t, b.Addrs(), withHeartbeats(testHeartbeatTopic), withControl(testControlTopic))
	hb := changefeed.Partition{Topic: testHeartbeatTopic, Partition: 0}
	ctrl := changefeed.Partition{Topic: testControlTopic, Partition: 0}
	if !slices.Contains(first.assigned, hb) || !slices.Contains(first.assigned, ctrl) {
		t.Fatalf("first session %v: want the heartbeat and control partitions", first.assigned)
	}
	sessions := len(h.feed.sessionStarts())

	b.Close()
	b2 := standardBroker(t, kafkabroker.Port(port), kafkabroker.AutoCreateTopics())
	p2 := newProducer(t, b2.Addrs())
	for v := uint64(10); v <= 12; v++ {
		p2.stock(0, 1, v) // before the consumer is back: still to be read
	}
	polltest.Until(t, 30*time.Second, "a complete session on the new broker", func() bool {
		s := h.feed.sessionStarts()
		return len(s) > sessions && s[len(s)-1].complete && slices.Contains(s[len(s)-1].assigned, ctrl)
	})
	polltest.Until(t, 10*time.Second, "every event of the new broker applied, none skipped", func() bool {
		return appliedAll(h.applier.stockVersions(1), 10, 12)
	})
	if g := gapsOn(h.feed, testStockTopic); len(g) == 0 {
		t.Error("no gap on the stock topic")
	}
	if s := h.feed.sessionStarts(); slices.Contains(s[len(s)-1].assigned, hb) {
		t.Errorf("the heartbeat partition is consumed on a broker without it: %v", s[len(s)-1].assigned)
	}
	if slices.Contains(topicsOn(t, b2.Addrs()), testHeartbeatTopic) {
		t.Fatal("the consumer created the heartbeat topic")
	}

	key, value := debezium.EncodeHeartbeat("dbz", time.Now().UnixMilli(), false)
	p2.send(testHeartbeatTopic, 0, key, value) // the source makes its topic
	polltest.Until(t, 15*time.Second, "the new heartbeat topic's first heartbeat read", func() bool {
		return h.feed.heartbeatCount() > 0 && slices.Contains(h.feed.handledOffsets(hb), 0)
	})
}

// While the broker is away nothing is known of any topic: a topic that was
// missing is not taken for present (and joined, which would fail for as long
// as it is missing). The broker back with its data, consuming goes on, still
// without it.
func TestMissingTopicNotTakenForPresentWhileTheBrokerIsAway(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dir := t.TempDir()
	b := standardBroker(t, kafkabroker.Port(port), kafkabroker.DataDir(dir))
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic))
	h.start(t)
	h.waitSessions(t, 1)
	b.Close()
	time.Sleep(3 * time.Second) // polls and looks while nothing answers
	standardBroker(t, kafkabroker.Port(port), kafkabroker.DataDir(dir))
	newProducer(t, b.Addrs()).stock(0, 1, 7)
	polltest.Until(t, 20*time.Second, "an event produced after the broker came back applied", func() bool {
		return slices.Contains(h.applier.stockVersions(1), 7)
	})
	for _, s := range h.feed.sessionStarts() {
		if !s.complete || slices.Contains(s.assigned, changefeed.Partition{Topic: testHeartbeatTopic}) {
			t.Errorf("session complete=%v assigned=%v, want complete without the missing heartbeat topic", s.complete, s.assigned)
		}
	}
	if g := h.feed.gapList(); len(g) != 0 {
		t.Errorf("gaps %v after a broker came back with its data", g)
	}
}

func TestObserveTopics(t *testing.T) {
	c, _, _ := newUnitConsumer(t, Options{})
	c.optional = []string{testHeartbeatTopic}
	id := func(b byte) sarama.Uuid { return sarama.Uuid{b} }
	look := func(states map[string]topicState) string {
		return fmt.Sprint(c.observeTopics(states))
	}
	// At the start: tables there, the heartbeat topic missing.
	if got := look(map[string]topicState{testStockTopic: {exists: true, id: id(1)}, testHeartbeatTopic: {}}); got != "[]" {
		t.Errorf("first look replaced %s", got)
	}
	if !c.fromOldest[testHeartbeatTopic] || c.fromOldest[testStockTopic] {
		t.Errorf("fromOldest %v: want the missing heartbeat topic read from its start once it appears, the tables not", c.fromOldest)
	}
	c.expected[stockPart(0)] = 5
	c.fromOldest = map[string]bool{}
	if got := look(map[string]topicState{testStockTopic: {exists: true, id: id(1)}}); got != "[]" {
		t.Errorf("same topic id: replaced %s", got)
	}
	if got := look(map[string]topicState{testStockTopic: {exists: true, id: id(2)}}); !strings.Contains(got, "new topic id") {
		t.Errorf("new topic id: replaced %s", got)
	}
	c.fromOldest = map[string]bool{}
	if got := look(map[string]topicState{testStockTopic: {}}); !strings.Contains(got, "deleted") {
		t.Errorf("gone: replaced %s", got)
	}
	if got := look(map[string]topicState{testStockTopic: {}}); got != "[]" {
		t.Errorf("still gone: replaced %s again", got)
	}
	if got := look(map[string]topicState{testStockTopic: {exists: true, id: id(3)}}); got != "[]" || !c.fromOldest[testStockTopic] {
		t.Errorf("back: replaced %s, fromOldest %v: want it read from its start, reported once", got, c.fromOldest)
	}
	if got := look(map[string]topicState{testWarehouseTopic: {}}); got != "[]" || c.fromOldest[testWarehouseTopic] {
		t.Errorf("a table never read, gone: replaced %s fromOldest %v", got, c.fromOldest)
	}
	if got := look(nil); got != "[]" {
		t.Errorf("nothing known: replaced %s", got)
	}
}
