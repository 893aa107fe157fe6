package kafkaconsumer

import (
	"maps"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/changefeed"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

const testHeartbeatTopic = "__debezium-heartbeat.dbz"

func withHeartbeats(topic string) harnessOption {
	return func(c *Config, _ *Options) { c.HeartbeatTopic = topic }
}

// The source creates its heartbeat topic with its first heartbeat, which may
// be after this instance started: the consumer finds the topic within a poll
// or two, joins again with it, and reads it from its start, so the
// heartbeats that made the topic count too. Every record on it is a
// heartbeat (never poison), and none is a gap.
func TestHeartbeatTopicReadFromItsStartOnceItAppears(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic))
	h.start(t)
	hb := changefeed.Partition{Topic: testHeartbeatTopic, Partition: 0}
	if s := h.waitSessions(t, 1); slices.Contains(s.assigned, hb) || !s.complete {
		t.Fatalf("first session %+v: want complete, without the missing heartbeat topic", s)
	}

	if err := kafkabroker.CreateTopics(b.Addrs(), 1, testHeartbeatTopic); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, b.Addrs())
	for i := 0; i < 3; i++ {
		key, value := debezium.EncodeHeartbeat("dbz", time.Now().UnixMilli(), i == 1)
		p.send(testHeartbeatTopic, 0, key, value)
	}
	polltest.Until(t, 15*time.Second, "a session with the heartbeat partition", func() bool {
		s := h.feed.sessionStarts()
		return slices.Contains(s[len(s)-1].assigned, hb) && s[len(s)-1].complete
	})
	p.send(testHeartbeatTopic, 0, []byte("?"), []byte("anything at all")) // still a sign of life
	polltest.Until(t, 10*time.Second, "four heartbeats", func() bool { return h.feed.heartbeatCount() == 4 })
	if got := h.events(testHeartbeatTopic, "heartbeat"); got != 4 {
		t.Errorf("heartbeat events %v, want 4", got)
	}
	if got := h.events(testHeartbeatTopic, "poison"); got != 0 {
		t.Errorf("heartbeats counted as poison: %v", got)
	}
	if g := h.feed.gapList(); len(g) != 0 {
		t.Errorf("gaps %v: a heartbeat partition first owned later is no gap", g)
	}
}

// A heartbeat topic there at the start is consumed from the first session,
// at its newest offset like every topic then: old heartbeats say nothing
// about the source now.
func TestHeartbeatTopicThereAtStart(t *testing.T) {
	t.Parallel()
	b := standardBroker(t, kafkabroker.Topics(1, testHeartbeatTopic))
	p := newProducer(t, b.Addrs())
	key, value := debezium.EncodeHeartbeat("dbz", time.Now().Add(-time.Hour).UnixMilli(), false)
	p.send(testHeartbeatTopic, 0, key, value)
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic))
	h.start(t)
	hb := changefeed.Partition{Topic: testHeartbeatTopic, Partition: 0}
	if s := h.waitSessions(t, 1); !slices.Contains(s.assigned, hb) {
		t.Fatalf("first session %+v lacks the heartbeat partition", s)
	}
	key, value = debezium.EncodeHeartbeat("dbz", time.Now().UnixMilli(), false)
	last := p.send(testHeartbeatTopic, 0, key, value)
	polltest.Until(t, 10*time.Second, "the new heartbeat handled", func() bool {
		return slices.Contains(h.feed.handledOffsets(hb), last)
	})
	if n := h.feed.heartbeatCount(); n != 1 {
		t.Errorf("%d heartbeats read, want only the one sent after the start", n)
	}
}

// A heartbeat a second would make a trace a second: heartbeat batches make
// no span unless background work is traced; change events keep theirs.
func TestHeartbeatsMakeNoSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	b := standardBroker(t, kafkabroker.Topics(1, testHeartbeatTopic))
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic),
		func(_ *Config, o *Options) { o.TracerProvider = tp })
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())
	key, value := debezium.EncodeHeartbeat("dbz", time.Now().UnixMilli(), false)
	p.send(testHeartbeatTopic, 0, key, value)
	last := p.stock(0, 1, 1)
	polltest.Until(t, 10*time.Second, "both handled", func() bool {
		return h.feed.heartbeatCount() == 1 && slices.Contains(h.feed.handledOffsets(stockPart(0)), last)
	})
	polltest.Until(t, 10*time.Second, "the change event's span", func() bool { return len(rec.Ended()) > 0 })
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "messaging.destination.name" && a.Value.AsString() == testHeartbeatTopic {
				t.Fatalf("a span for the heartbeat batch: %s", s.Name())
			}
		}
	}
}

// A relay's heartbeat tells the feed how far the source has published; a
// Debezium heartbeat, or one whose position cannot be read, is a sign of
// life and nothing more, the bad one counted.
func TestHeartbeatPositionsReachTheFeed(t *testing.T) {
	t.Parallel()
	b := standardBroker(t, kafkabroker.Topics(1, testHeartbeatTopic))
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withHeartbeats(testHeartbeatTopic))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())
	pos := &debezium.HeartbeatPosition{GTID: "0-1-42", Offsets: []debezium.PartitionOffset{
		{Topic: testStockTopic, Partition: 0, Offset: 7}, {Topic: testStockTopic, Partition: 1, Offset: 3},
	}}
	for _, value := range [][]byte{
		func() []byte { _, v := debezium.EncodeHeartbeat("dbz", 1, true); return v }(),
		func() []byte { _, v := debezium.EncodePositionHeartbeat("dbz", 2, true, pos); return v }(),
		[]byte(`{"ts_ms":3,"gintoki_position":{"gtid":"0-1-43","offsets":{"x/y":1}}}`),
		func() []byte { _, v := debezium.EncodePositionHeartbeat("dbz", 4, false, pos); return v }(),
	} {
		p.send(testHeartbeatTopic, 0, []byte("k"), value)
	}
	polltest.Until(t, 10*time.Second, "four heartbeats", func() bool { return h.feed.heartbeatCount() == 4 })
	got := h.feed.positionList()
	if len(got) != 2 {
		t.Fatalf("positions %+v, want the two well-formed ones", got)
	}
	for _, c := range got {
		want := map[changefeed.Partition]int64{{Topic: testStockTopic, Partition: 0}: 7, {Topic: testStockTopic, Partition: 1}: 3}
		if c.pos.String() != "0-0-42" || !maps.Equal(c.offsets, want) || c.at.IsZero() {
			t.Errorf("position %+v, want 0-1-42 at %v", c, want)
		}
	}
	if n := metricValue(h.consumer.metrics.positions.WithLabelValues(positionMalformed)); n != 1 {
		t.Errorf("malformed positions counted %v, want 1", n)
	}
	if n := metricValue(h.consumer.metrics.positions.WithLabelValues(positionRead)); n != 2 {
		t.Errorf("positions read %v, want 2", n)
	}
}
