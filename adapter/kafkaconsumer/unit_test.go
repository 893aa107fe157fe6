package kafkaconsumer

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/changefeed"
)

// fakeSession records marks; the unit tests drive a partition without Kafka.
type fakeSession struct {
	ctx    context.Context
	mu     sync.Mutex
	marked []int64
}

func (s *fakeSession) Claims() map[string][]int32               { return nil }
func (s *fakeSession) MemberID() string                         { return "m" }
func (s *fakeSession) GenerationID() int32                      { return 1 }
func (s *fakeSession) MarkOffset(string, int32, int64, string)  {}
func (s *fakeSession) Commit()                                  {}
func (s *fakeSession) ResetOffset(string, int32, int64, string) {}
func (s *fakeSession) Context() context.Context                 { return s.ctx }
func (s *fakeSession) MarkMessage(m *sarama.ConsumerMessage, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked = append(s.marked, m.Offset)
}

func newUnitConsumer(t *testing.T, opts Options) (*Consumer, *fakeApplier, *fakeFeed) {
	t.Helper()
	a, f := &fakeApplier{}, newFakeFeed()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c, err := New(Config{Brokers: []string{"127.0.0.1:9"}, Group: "g", StockTopic: testStockTopic, WarehouseTopic: testWarehouseTopic}, a, f, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, a, f
}

func stockMessage(t *testing.T, partition int32, offset int64, productID int64, version uint64) *sarama.ConsumerMessage {
	t.Helper()
	row := domain.StockRow{ProductID: productID, WarehouseID: 1, QtySalable: 1, Version: version}
	v, err := debeziumtest.EncodeStock(domain.OpCreate, nil, &row, debezium.Source{TsMs: 1}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := debeziumtest.EncodeStockKey(debezium.Source{}, productID, 1, false)
	return &sarama.ConsumerMessage{Topic: testStockTopic, Partition: partition, Offset: offset, Key: k, Value: v}
}

func TestCheckStart(t *testing.T) {
	p := stockPart(0)
	tests := []struct {
		name      string
		expected  int64 // -1: never owned
		later     bool
		start     int64
		end       int64
		reset     bool
		wantGap   string // substring; "" means no gap
		wantAfter int64
	}{
		{name: "first session, never owned", expected: -1, start: 40, end: 40, wantAfter: 40},
		{name: "later session, new partition, empty", expected: -1, later: true, start: 0, end: 0, wantAfter: 0},
		{name: "later session, new partition with history", expected: -1, later: true, start: 12, end: 12, wantGap: "first owned", wantAfter: 12},
		{name: "resume in place", expected: 7, start: 7, end: 9, wantAfter: 7},
		{name: "re-delivery", expected: 7, start: 5, end: 9, wantAfter: 5},
		{name: "start jumped forward", expected: 7, start: 8, end: 9, wantGap: "jumped forward", wantAfter: 8},
		{name: "end below expected", expected: 7, start: 0, end: 2, reset: true, wantGap: "truncated or recreated", wantAfter: 0},
		{name: "commit lost, log moved on", expected: 7, start: 9, end: 9, reset: true, wantGap: "no usable committed offset", wantAfter: 9},
		{name: "commit lost, same offset", expected: 7, start: 7, end: 7, reset: true, wantGap: "no usable committed offset", wantAfter: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, f := newUnitConsumer(t, Options{})
			if tc.expected >= 0 {
				c.expected[p] = tc.expected
			}
			sess := newSession(nil, []changefeed.Partition{p}, nil, true, tc.later)
			c.checkStart(sess, p, tc.start, tc.end, tc.reset)
			gaps := f.gapList()
			switch {
			case tc.wantGap == "" && len(gaps) != 0:
				t.Errorf("gaps = %v, want none", gaps)
			case tc.wantGap != "" && (len(gaps) != 1 || !strings.Contains(gaps[0].reason, tc.wantGap) || gaps[0].p != p):
				t.Errorf("gaps = %v, want one on %v containing %q", gaps, p, tc.wantGap)
			}
			if got := c.expected[p]; got != tc.wantAfter {
				t.Errorf("expected offset after = %d, want %d", got, tc.wantAfter)
			}
		})
	}
}

func TestHandleBatchTreatsOffsetHolesAsBenignAndMarksEverything(t *testing.T) {
	c, a, f := newUnitConsumer(t, Options{})
	p := stockPart(0)
	sess := &fakeSession{ctx: context.Background()}
	pc := newPartitionConsumer(c, sess, p, 10)
	batch := []*sarama.ConsumerMessage{
		stockMessage(t, 0, 10, 1, 1),
		stockMessage(t, 0, 11, 1, 2),
		stockMessage(t, 0, 15, 1, 3), // 12..14: transaction markers or compacted away
		stockMessage(t, 0, 16, 1, 4),
	}
	pc.handleBatch(context.Background(), batch)

	gaps := f.gapList()
	if len(gaps) != 0 {
		t.Errorf("gaps = %v, want none for holes inside a fetch", gaps)
	}
	if got := a.stockVersions(1); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("applied versions = %v", got)
	}
	if got := f.handledOffsets(p); !slices.Equal(got, []int64{10, 11, 15, 16}) {
		t.Errorf("handled = %v", got)
	}
	if !slices.Equal(sess.marked, []int64{10, 11, 15, 16}) {
		t.Errorf("marked = %v", sess.marked)
	}
	if c.expected[p] != 17 || pc.next != 17 {
		t.Errorf("position after batch = %d/%d, want 17", c.expected[p], pc.next)
	}
}

func TestHandleBatchStopsWhenSessionEnds(t *testing.T) {
	c, a, f := newUnitConsumer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sess := &fakeSession{ctx: ctx}
	pc := newPartitionConsumer(c, sess, stockPart(0), 0)
	pc.handleBatch(ctx, []*sarama.ConsumerMessage{stockMessage(t, 0, 0, 1, 1)})
	if len(a.stockChanges()) != 0 || len(f.handledOffsets(stockPart(0))) != 0 || len(sess.marked) != 0 {
		t.Error("a message was handled after the session ended; it must be left for re-delivery")
	}
}

func TestBatchSpanContinuesTraceFromHeaders(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c, _, _ := newUnitConsumer(t, Options{TracerProvider: tp})
	sess := &fakeSession{ctx: context.Background()}
	pc := newPartitionConsumer(c, sess, stockPart(2), 0)

	const (
		parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		linkedTrace = "0af7651916cd43dd8448eb211c80319c"
	)
	m0 := stockMessage(t, 2, 0, 1, 1)
	m0.Headers = []*sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-" + parentTrace + "-00f067aa0ba902b7-01")}}
	m1 := stockMessage(t, 2, 1, 1, 2)
	m1.Headers = []*sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-" + linkedTrace + "-b7ad6b7169203331-01")}}
	m2 := stockMessage(t, 2, 2, 1, 3)
	pc.handleBatch(context.Background(), []*sarama.ConsumerMessage{m0, m1, m2})

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("spans = %d, want 1 per batch", len(spans))
	}
	s := spans[0]
	if s.Name() != "cdc.apply_batch" || s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if got := s.Parent().TraceID().String(); got != parentTrace {
		t.Errorf("parent trace = %s, want the first message's %s", got, parentTrace)
	}
	if links := s.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != linkedTrace {
		t.Errorf("links = %v, want the second message's trace", links)
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	for k, want := range map[string]string{
		"messaging.destination.name":         testStockTopic,
		"messaging.destination.partition.id": "2",
		"messaging.batch.message_count":      "3",
	} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
}

func TestOffsetOutOfRangeErrorIsAGap(t *testing.T) {
	c, _, f := newUnitConsumer(t, Options{})
	errs := make(chan error, 3)
	errs <- &sarama.ConsumerError{Topic: testStockTopic, Partition: 1, Err: sarama.ErrOffsetOutOfRange}
	errs <- &sarama.ConsumerError{Topic: testStockTopic, Partition: 0, Err: sarama.ErrNotConnected}
	close(errs)
	c.drainErrors(errs)
	gaps := f.gapList()
	if len(gaps) != 1 || gaps[0].p != stockPart(1) {
		t.Errorf("gaps = %v, want one on stock/1", gaps)
	}
}

func TestWarehouseTruncateAndUnknownOutcomeAreCounted(t *testing.T) {
	c, a, _ := newUnitConsumer(t, Options{})
	a.outcome = 42 // an outcome this package does not know still gets a label
	pc := newPartitionConsumer(c, &fakeSession{ctx: context.Background()}, warehousePart(), 0)
	v, err := debeziumtest.EncodeWarehouse(domain.OpTruncate, nil, nil, debezium.Source{TsMs: 1}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	pc.handle(&sarama.ConsumerMessage{Topic: testWarehouseTopic, Value: v})
	if got := a.warehouseChanges(); len(got) != 1 || got[0].Op != domain.OpTruncate {
		t.Errorf("warehouse changes = %+v", got)
	}
	if got := metricValue(c.metrics.events.WithLabelValues(testWarehouseTopic, "unknown")); got != 1 {
		t.Errorf("events{outcome=unknown} = %v, want 1", got)
	}
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{every: poisonLogGap}
	now := testNow()
	if ok, _ := l.allow(now); !ok {
		t.Fatal("first line suppressed")
	}
	for range 3 {
		if ok, _ := l.allow(now.Add(poisonLogGap / 2)); ok {
			t.Fatal("line within the period let through")
		}
	}
	ok, suppressed := l.allow(now.Add(poisonLogGap))
	if !ok || suppressed != 3 {
		t.Errorf("after the period: ok=%v suppressed=%d, want true 3", ok, suppressed)
	}
}

func TestHeaderCarrier(t *testing.T) {
	h := headerCarrier{{Key: []byte("a"), Value: []byte("1")}, nil, {Key: []byte("b"), Value: []byte("2")}}
	if h.Get("b") != "2" || h.Get("c") != "" {
		t.Errorf("Get: b=%q c=%q", h.Get("b"), h.Get("c"))
	}
	if !slices.Equal(h.Keys(), []string{"a", "b"}) {
		t.Errorf("Keys = %v", h.Keys())
	}
}

func testNow() time.Time { return time.Unix(1_700_000_000, 0) }
