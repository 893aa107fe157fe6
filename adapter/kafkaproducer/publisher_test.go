package kafkaproducer

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
	"github.com/gintoki/gintoki/usecase/relay"
)

// batchRecorder is a batchSender that records batches; failNext fails the
// next send with sarama's per-message error for its first message.
type batchRecorder struct {
	mu       sync.Mutex
	batches  [][]*sarama.ProducerMessage
	failNext bool
	closed   bool
	closes   int
	closeErr error
}

func (b *batchRecorder) SendMessages(msgs []*sarama.ProducerMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("send on a closed producer")
	}
	if b.failNext {
		b.failNext = false
		return sarama.ProducerErrors{{Msg: msgs[0], Err: sarama.ErrNotEnoughReplicas}}
	}
	b.batches = append(b.batches, msgs)
	return nil
}

func (b *batchRecorder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.closes++
	return b.closeErr
}

// messages is every message sent, in order.
func (b *batchRecorder) messages() []*sarama.ProducerMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var all []*sarama.ProducerMessage
	for _, batch := range b.batches {
		all = append(all, batch...)
	}
	return all
}

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

// newTestPublisher is a publisher on rec for prefix dbserver1, database
// inventory, its clock at fixedNow and its propagator W3C trace context.
func newTestPublisher(t *testing.T, rec *batchRecorder, withSchema bool, opts ...Option) *Publisher {
	t.Helper()
	o := options{now: func() time.Time { return fixedNow }, propagator: propagation.TraceContext{}}
	for _, opt := range opts {
		opt(&o)
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{TopicPrefix: "dbserver1", Database: "inventory", WithSchema: withSchema}
	return newPublisher(rec, func() (batchSender, error) { return nil, errors.New("no reconnect in this test") }, cfg, o, m)
}

var relayStock = &relay.Table{DB: "inventory", Name: "stock_items", Columns: debezium.StockItems.Columns, Key: debezium.StockItems.Key}

var relayLog = &relay.Table{DB: "inventory", Name: "audit log", Columns: []relay.Column{{Name: "msg", Type: "text"}}}

func stockImage(pid, qty, version string) relay.Row {
	return relay.Row{[]byte(pid), []byte("1"), []byte(qty), []byte(version), []byte("2024-01-02 03:04:05.000006")}
}

func relayChange(op domain.Op, before, after relay.Row) *relay.Change {
	return &relay.Change{Table: relayStock, Op: op, Before: before, After: after,
		At: relay.Position{File: "mysql-bin.000004", Pos: 1234, GTID: "0-1-77"}, RowInEvent: 2, ServerID: 1,
		Thread: 9, Time: time.Unix(1700000000, 0)}
}

func TestChangeTopicReplacesCharactersKafkaRefuses(t *testing.T) {
	if got := ChangeTopic("gintoki", "shop", "stock_items"); got != "gintoki.shop.stock_items" {
		t.Errorf("plain: %q", got)
	}
	if got := ChangeTopic("gintoki", "shop-1", "audit log$"); got != "gintoki.shop-1.audit_log_" {
		t.Errorf("replaced: %q", got)
	}
}

func TestPublishWritesEventsKeysAndTombstones(t *testing.T) {
	rec := &batchRecorder{}
	reg := prometheus.NewRegistry()
	p := newTestPublisher(t, rec, false, WithRegisterer(reg))
	snap := relayChange(domain.OpRead, nil, stockImage("1", "5", "1"))
	snap.Snapshot = "first"
	changes := []*relay.Change{
		snap,
		relayChange(domain.OpCreate, nil, stockImage("2", "5", "1")),
		relayChange(domain.OpUpdate, stockImage("2", "5", "1"), stockImage("2", "6", "2")),
		relayChange(domain.OpDelete, stockImage("2", "6", "2"), nil),
		{Table: relayLog, Op: domain.OpDelete, Before: relay.Row{[]byte("gone")}, At: relay.Position{File: "mysql-bin.000004", Pos: 2000}},
	}
	if _, err := p.Publish(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 1 {
		t.Fatalf("%d sends, want the batch in one", len(rec.batches))
	}
	msgs := rec.batches[0]
	// r, c, u, d, tombstone, then the keyless delete without one.
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	for i, wantOp := range []domain.Op{'r', 'c', 'u', 'd'} {
		m := msgs[i]
		if m.Topic != "dbserver1.inventory.stock_items" {
			t.Errorf("message %d topic %q", i, m.Topic)
		}
		if len(m.Headers) != 0 {
			t.Errorf("message %d carries headers %v without a span in the context", i, m.Headers)
		}
		env, err := debezium.DecodeEnvelope(encoded(t, m.Value))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		s := env.Source
		if env.Op != wantOp || s.Name != "dbserver1" || s.DB != "inventory" || s.Table != "stock_items" || s.File != "mysql-bin.000004" ||
			s.Pos != 1234 || s.Row != 2 || s.GTID != "0-1-77" || s.Thread != 9 || s.ServerID != 1 || s.TsMs != 1700000000000 ||
			s.Version != SourceVersion || env.TsMs != fixedNow.UnixMilli() {
			t.Errorf("message %d: op %c source %+v ts %d", i, env.Op, s, env.TsMs)
		}
		if pid, _, err := debezium.DecodeStockKey(encoded(t, m.Key)); err != nil || pid != map[int]int64{0: 1, 1: 2, 2: 2, 3: 2}[i] {
			t.Errorf("message %d key %s: %v", i, encoded(t, m.Key), err)
		}
	}
	if env, _ := debezium.DecodeEnvelope(encoded(t, msgs[0].Value)); env.Source.Snapshot != "first" {
		t.Errorf("snapshot marker %q", env.Source.Snapshot)
	}
	if env, _ := debezium.DecodeEnvelope(encoded(t, msgs[2].Value)); env.Before == nil || !strings.Contains(string(env.Before), `"qty_salable":5`) {
		t.Errorf("update before-image %s", env.Before)
	}
	tomb := msgs[4]
	if tomb.Value != nil || string(encoded(t, tomb.Key)) != string(encoded(t, msgs[3].Key)) || tomb.Topic != msgs[3].Topic {
		t.Errorf("tombstone: topic %s key %v value %v; want the delete's key and a null value", tomb.Topic, tomb.Key, tomb.Value)
	}
	if msgs[5].Key != nil || msgs[5].Topic != "dbserver1.inventory.audit_log" {
		t.Errorf("keyless table: topic %s key %v", msgs[5].Topic, msgs[5].Key)
	}
	if got := counterOf(t, p.metrics.published.WithLabelValues("dbserver1.inventory.stock_items")); got != 5 {
		t.Errorf("published counter %v, want 5 (tombstone included)", got)
	}
}

// TestPublishStockIsTheRelaysEvent: the simulator's stock change and the
// relay's change of the same row at the same time are the same bytes, for
// every op and both forms.
func TestPublishStockIsTheRelaysEvent(t *testing.T) {
	before := &domain.StockRow{ProductID: 11, WarehouseID: 2, QtySalable: 5, Version: 100}
	after := &domain.StockRow{ProductID: 11, WarehouseID: 2, QtySalable: 9, Version: 101}
	const updatedAt = int64(1_741_064_767_891_234) // 2025-03-04 05:06:07.891234
	// The row as the binlog carries it: MySQL's text of each column.
	image := func(r *domain.StockRow) relay.Row {
		if r == nil {
			return nil
		}
		return relay.Row{[]byte("11"), []byte("2"), strconv.AppendInt(nil, int64(r.QtySalable), 10),
			strconv.AppendUint(nil, r.Version, 10), []byte("2025-03-04 05:06:07.891234")}
	}
	for _, tc := range []struct {
		name          string
		op            domain.Op
		before, after *domain.StockRow
		want          domain.StockRow
	}{
		{"insert", domain.OpCreate, nil, after, *after},
		{"update", domain.OpUpdate, before, after, *after},
		{"snapshot read", domain.OpRead, nil, after, *after},
		{"delete", domain.OpDelete, before, nil, *before},
	} {
		for _, withSchema := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "/bare", true: "/wrapped"}[withSchema], func(t *testing.T) {
				simRec, relayRec := &batchRecorder{}, &batchRecorder{}
				if err := newTestPublisher(t, simRec, withSchema).PublishStock(context.Background(), tc.op, tc.before, tc.after, updatedAt); err != nil {
					t.Fatalf("PublishStock: %v", err)
				}
				c := &relay.Change{Table: relayStock, Op: tc.op, Before: image(tc.before), After: image(tc.after), Time: fixedNow}
				if _, err := newTestPublisher(t, relayRec, withSchema).Publish(context.Background(), []*relay.Change{c}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				sim, rel := simRec.messages(), relayRec.messages()
				if len(sim) != len(rel) || len(sim) != 1+map[bool]int{true: 1}[tc.op == domain.OpDelete] {
					t.Fatalf("simulator sent %d messages, relay %d", len(sim), len(rel))
				}
				for i := range sim {
					if sim[i].Topic != rel[i].Topic || !bytes.Equal(encoded(t, sim[i].Key), encoded(t, rel[i].Key)) ||
						!bytes.Equal(encoded(t, sim[i].Value), encoded(t, rel[i].Value)) {
						t.Errorf("message %d differs:\nsimulator %s %s %s\nrelay     %s %s %s", i,
							sim[i].Topic, encoded(t, sim[i].Key), encoded(t, sim[i].Value), rel[i].Topic, encoded(t, rel[i].Key), encoded(t, rel[i].Value))
					}
				}
				change, err := debezium.DecodeStock(encoded(t, sim[0].Value))
				if want := (domain.StockChange{Op: tc.op, Row: tc.want, SourceTsMs: fixedNow.UnixMilli()}); err != nil || change != want {
					t.Errorf("decoded %+v, %v; want %+v", change, err, want)
				}
				if got := strings.HasPrefix(string(encoded(t, sim[0].Key)), `{"schema":`); got != withSchema {
					t.Errorf("key schema wrapper present = %v, want %v", got, withSchema)
				}
			})
		}
	}
}

func TestPublishStockTruncateHasNoKey(t *testing.T) {
	rec := &batchRecorder{}
	if err := newTestPublisher(t, rec, false).PublishStock(context.Background(), domain.OpTruncate, nil, nil, 0); err != nil {
		t.Fatalf("PublishStock(truncate): %v", err)
	}
	msgs := rec.messages()
	if len(msgs) != 1 || msgs[0].Key != nil {
		t.Fatalf("sent %d messages (first key %v), want one keyless message", len(msgs), msgs)
	}
	change, err := debezium.DecodeStock(encoded(t, msgs[0].Value))
	if err != nil || change.Op != domain.OpTruncate {
		t.Errorf("decoded %+v, %v; want a truncate", change, err)
	}
}

func TestPublishRefusesWhatCannotBeEncoded(t *testing.T) {
	rec := &batchRecorder{}
	p := newTestPublisher(t, rec, false)
	bad := []*relay.Change{
		relayChange(domain.OpCreate, nil, stockImage("x", "1", "1")),
		relayChange(domain.OpDelete, stockImage("1", "1", "1"), stockImage("1", "1", "1")),
		{Table: &relay.Table{DB: "shop", Name: "e", Columns: []relay.Column{{Name: "c", Type: "enum"}}}, Op: domain.OpCreate, After: relay.Row{[]byte("a")}},
	}
	for _, c := range bad {
		_, err := p.Publish(context.Background(), []*relay.Change{c})
		if err == nil || !relay.IsPermanent(err) {
			t.Errorf("%s %s: %v; want a permanent error", c.Table.Name, c.Op, err)
		}
	}
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	for _, tc := range []struct {
		name          string
		op            domain.Op
		before, after *domain.StockRow
	}{
		{"update without images", domain.OpUpdate, nil, nil},
		{"delete with an after-image", domain.OpDelete, row, row},
		{"unknown op", domain.Op('x'), nil, row},
		{"non-positive id", domain.OpCreate, nil, &domain.StockRow{ProductID: 0, WarehouseID: 1}},
	} {
		if err := p.PublishStock(context.Background(), tc.op, tc.before, tc.after, 0); err == nil {
			t.Errorf("PublishStock %s succeeded, want an error", tc.name)
		}
	}
	if n := len(rec.messages()); n != 0 {
		t.Errorf("sent %d messages of events that cannot be encoded", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Publish(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish on a cancelled context: %v", err)
	}
	if err := p.PublishStock(ctx, domain.OpUpdate, nil, row, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishStock on a cancelled context: %v", err)
	}
}

func TestPublishFailureMakesANewProducer(t *testing.T) {
	first := &batchRecorder{failNext: true}
	second := &batchRecorder{}
	connects := 0
	reg := prometheus.NewRegistry()
	p := newTestPublisher(t, first, false, WithRegisterer(reg))
	p.connect = func() (batchSender, error) {
		connects++
		return second, nil
	}
	batch := []*relay.Change{relayChange(domain.OpCreate, nil, stockImage("1", "1", "1")), relayChange(domain.OpCreate, nil, stockImage("2", "1", "1"))}
	_, err := p.Publish(context.Background(), batch)
	var perrs sarama.ProducerErrors
	if err == nil || relay.IsPermanent(err) || !errors.As(err, &perrs) {
		t.Fatalf("failed send: %v; want a retryable error carrying sarama's", err)
	}
	if !first.closed || connects != 0 {
		t.Fatalf("after a failure: old producer closed %v, connects %d; want it closed and no new one yet", first.closed, connects)
	}
	topic := "dbserver1.inventory.stock_items"
	if failed, published := counterOf(t, p.metrics.failed.WithLabelValues(topic)), counterOf(t, p.metrics.published.WithLabelValues(topic)); failed != 1 || published != 1 {
		t.Errorf("counted %v failed, %v published; want 1 and 1 (sarama named one message)", failed, published)
	}
	if _, err := p.Publish(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if connects != 1 || len(second.batches) != 1 {
		t.Fatalf("connects %d, batches on the new producer %d", connects, len(second.batches))
	}
	if err := p.Close(); err != nil || !second.closed {
		t.Fatalf("Close: %v", err)
	}
	lazy := newTestPublisher(t, nil, false)
	lazy.producer = nil
	lazy.connect = func() (batchSender, error) { return nil, errors.New("broker down") }
	if _, err := lazy.Publish(context.Background(), batch); err == nil || !strings.Contains(err.Error(), "broker down") || relay.IsPermanent(err) {
		t.Fatalf("Publish with the broker down: %v; want a retryable error", err)
	}
	if err := lazy.Close(); err != nil {
		t.Fatalf("Close of a never-connected publisher: %v", err)
	}
}

func TestPublishedMetricIsSharedAndCountsPerTopic(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A second publisher on the same registry shares the counters instead
	// of failing to register.
	p := newTestPublisher(t, &batchRecorder{}, false, WithRegisterer(reg))
	p2 := newTestPublisher(t, &batchRecorder{}, false, WithRegisterer(reg))
	ctx := context.Background()
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	for _, err := range []error{
		p.PublishStock(ctx, domain.OpUpdate, nil, row, 0),
		p2.PublishStock(ctx, domain.OpDelete, row, nil, 0), // event + tombstone
		func() error {
			_, err := p.Publish(ctx, []*relay.Change{{Table: relayLog, Op: domain.OpCreate, After: relay.Row{[]byte("hi")}}})
			return err
		}(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gintoki_cdc_published_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(got) != 2 || got["dbserver1.inventory.stock_items"] != 3 || got["dbserver1.inventory.audit_log"] != 1 {
		t.Errorf("gintoki_cdc_published_total = %v, want stock_items 3 and audit_log 1", got)
	}
}

func TestPublishInjectsTraceContext(t *testing.T) {
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	parent := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}

	t.Run("caller span", func(t *testing.T) {
		rec := &batchRecorder{}
		if err := newTestPublisher(t, rec, false).PublishStock(parent, domain.OpDelete, row, nil, 0); err != nil {
			t.Fatal(err)
		}
		want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		msgs := rec.messages()
		if len(msgs) != 2 {
			t.Fatalf("%d messages, want the delete and its tombstone", len(msgs))
		}
		for i, m := range msgs {
			c := headerCarrier{headers: m.Headers}
			if got := c.Get("traceparent"); got != want {
				t.Errorf("message %d: traceparent = %q, want %q", i, got, want)
			}
		}
	})

	t.Run("no span", func(t *testing.T) {
		rec := &batchRecorder{}
		if err := newTestPublisher(t, rec, false).PublishStock(context.Background(), domain.OpUpdate, nil, row, 0); err != nil {
			t.Fatal(err)
		}
		if h := rec.messages()[0].Headers; len(h) != 0 {
			t.Errorf("headers = %v, want none without a span", h)
		}
	})

	t.Run("producer span", func(t *testing.T) {
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		rec := &batchRecorder{}
		if err := newTestPublisher(t, rec, false, WithTracerProvider(tp)).PublishStock(parent, domain.OpUpdate, nil, row, 0); err != nil {
			t.Fatal(err)
		}
		ended := spans.Ended()
		if len(ended) != 1 {
			t.Fatalf("%d spans ended, want 1", len(ended))
		}
		s := ended[0]
		if s.SpanKind() != trace.SpanKindProducer || s.Parent().SpanID() != spanID || s.SpanContext().TraceID() != traceID {
			t.Errorf("span kind %v parent %v trace %v; want a producer span under the caller's", s.SpanKind(), s.Parent().SpanID(), s.SpanContext().TraceID())
		}
		c := headerCarrier{headers: rec.messages()[0].Headers}
		want := "00-" + traceID.String() + "-" + s.SpanContext().SpanID().String() + "-01"
		if got := c.Get("traceparent"); got != want {
			t.Errorf("traceparent = %q, want the producer span %q", got, want)
		}
	})
}

func TestHeaderCarrier(t *testing.T) {
	var c headerCarrier
	c.Set("a", "1")
	c.Set("b", "2")
	c.Set("a", "3")
	if got := c.Get("a"); got != "3" {
		t.Errorf("Get(a) = %q, want the replaced value 3", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q, want empty", got)
	}
	if keys := c.Keys(); len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Errorf("Keys() = %v, want [a b]", keys)
	}
}

func TestCloseRefusesLaterPublishes(t *testing.T) {
	closeErr := errors.New("flush failed")
	rec := &batchRecorder{closeErr: closeErr}
	p := newTestPublisher(t, rec, false)
	if err := p.Close(); !errors.Is(err, closeErr) {
		t.Errorf("Close() = %v, want one wrapping %v", err, closeErr)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if rec.closes != 1 {
		t.Errorf("producer closed %d times, want once", rec.closes)
	}
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	if err := p.PublishStock(context.Background(), domain.OpUpdate, nil, row, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("PublishStock after Close: err = %v, want ErrClosed", err)
	}
	if err := p.Heartbeat(context.Background(), fixedNow, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Heartbeat after Close: err = %v, want ErrClosed", err)
	}
	if n := len(rec.messages()); n != 0 {
		t.Errorf("%d messages sent after Close", n)
	}
}

func TestCloseConcurrentWithPublishes(t *testing.T) {
	rec := &batchRecorder{}
	p := newTestPublisher(t, rec, false)
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	var (
		wg        sync.WaitGroup
		succeeded atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				err := p.PublishStock(context.Background(), domain.OpUpdate, nil, row, 0)
				switch {
				case err == nil:
					succeeded.Add(1)
				case !errors.Is(err, ErrClosed):
					t.Errorf("publish: %v", err)
				}
			}
		})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	sentAtClose := len(rec.messages())
	wg.Wait()
	if n := len(rec.messages()); n != sentAtClose {
		t.Errorf("%d messages sent after Close returned", n-sentAtClose)
	}
	if n := succeeded.Load(); n != int64(sentAtClose) {
		t.Errorf("%d publishes succeeded but %d messages were sent", n, sentAtClose)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Brokers: []string{"unused:9092"}, TopicPrefix: "dbserver1", Database: "inventory"}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		tune   func(*sarama.Config)
		want   string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, nil, "no brokers"},
		{"no prefix", func(c *Config) { c.TopicPrefix = "" }, nil, "topic prefix is empty"},
		{"bad prefix", func(c *Config) { c.TopicPrefix = "db server" }, nil, `holds " "`},
		{"bad version", func(c *Config) { c.Version = "latest" }, nil, `version "latest"`},
		{"old version", func(c *Config) { c.Version = "0.10.2.0" }, nil, "too old"},
		{"bad tuning", func(*Config) {}, func(c *sarama.Config) { c.Net.MaxOpenRequests = 5 }, "MaxOpenRequests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			p, err := New(cfg, WithSaramaConfig(tc.tune))
			if err == nil {
				p.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSaramaConfig(t *testing.T) {
	cfg := Config{Brokers: []string{"unused:9092"}, TopicPrefix: "dbserver1", Version: "3.6.0"}
	sc, err := cfg.saramaConfig(func(sc *sarama.Config) {
		sc.Producer.Return.Successes = false // a tuning cannot break the sync producer
		sc.Producer.Retry.Max = 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Producer.RequiredAcks != sarama.WaitForAll || !sc.Producer.Return.Successes || !sc.Producer.Return.Errors {
		t.Errorf("acks %v, successes %v, errors %v; want acks=all and both returned",
			sc.Producer.RequiredAcks, sc.Producer.Return.Successes, sc.Producer.Return.Errors)
	}
	if !sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 || sc.Producer.Retry.Max < 1 {
		t.Errorf("idempotent %v, max open requests %d, retries %d", sc.Producer.Idempotent, sc.Net.MaxOpenRequests, sc.Producer.Retry.Max)
	}
	if sc.ClientID != defaultClientID || sc.Version != sarama.V3_6_0_0 {
		t.Errorf("client id %q version %v", sc.ClientID, sc.Version)
	}
	if got, err := sc.Producer.Partitioner("t").Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("21")}, 7); err != nil || got != 3 {
		t.Errorf("configured partitioner puts key 21 on %d of 7 (%v), want Kafka's 3", got, err)
	}
}

// TestPublishBatchThroughBroker: a relay batch reaches a real
// Kafka-protocol broker in order per key, on the partition Kafka's Java
// client would pick, and the heartbeat topic is made on first use.
func TestPublishBatchThroughBroker(t *testing.T) {
	const partitions = 4
	topic := ChangeTopic("gintoki", "inventory", "stock_items")
	broker, err := kafkabroker.Start(kafkabroker.Topics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	p, err := New(Config{Brokers: broker.Addrs(), Version: "2.8.0", TopicPrefix: "gintoki", WithSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var batch []*relay.Change
	for pid := 1; pid <= 20; pid++ {
		id := []byte{byte('0' + pid/10), byte('0' + pid%10)}
		batch = append(batch,
			relayChange(domain.OpCreate, nil, stockImage(string(id), "1", "1")),
			relayChange(domain.OpUpdate, stockImage(string(id), "1", "1"), stockImage(string(id), "2", "2")),
			relayChange(domain.OpDelete, stockImage(string(id), "2", "2"), nil))
	}
	if _, err := p.Publish(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if err := p.Heartbeat(context.Background(), fixedNow, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := kafkatest.Read(ctx, broker.Addrs(), topic, 80)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string][]string{}
	for _, m := range got {
		if want := PartitionFor(m.Key, partitions); m.Partition != want {
			t.Errorf("key %s on partition %d, want %d", m.Key, m.Partition, want)
		}
		op := "tombstone"
		if m.Value != nil {
			env, err := debezium.DecodeEnvelope(m.Value)
			if err != nil || !env.Wrapped {
				t.Fatalf("value: %v (wrapped %v)", err, env.Wrapped)
			}
			op = env.Op.String()
		}
		perKey[string(m.Key)] = append(perKey[string(m.Key)], op)
	}
	if len(perKey) != 20 {
		t.Fatalf("%d keys, want 20", len(perKey))
	}
	for k, ops := range perKey {
		if strings.Join(ops, ",") != "c,u,d,tombstone" {
			t.Errorf("key %s: %v", k, ops)
		}
	}
	beats, err := kafkatest.Read(ctx, broker.Addrs(), debezium.HeartbeatTopic("gintoki"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(beats[0].Value), `"ts_ms":1741064767891`) {
		t.Errorf("heartbeat %s", beats[0].Value)
	}
}

func encoded(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestOffsetsThroughBroker: what Publish says it wrote is where the broker's
// partitions end; EndOffsets reads every partition of the captured tables'
// topics, without creating a topic nothing was written to; a heartbeat
// carries the progress it is given.
func TestOffsetsThroughBroker(t *testing.T) {
	const partitions = 3
	topic := ChangeTopic("gintoki", "inventory", "stock_items")
	absent := ChangeTopic("gintoki", "inventory", "warehouses")
	broker, err := kafkabroker.Start(kafkabroker.Topics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	newPub := func() *Publisher {
		p, err := New(Config{Brokers: broker.Addrs(), TopicPrefix: "gintoki", Database: "inventory", Tables: []string{"stock_items", "warehouses"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	batch := func(from, to int) []*relay.Change {
		var out []*relay.Change
		for pid := from; pid <= to; pid++ {
			out = append(out, relayChange(domain.OpCreate, nil, stockImage(strconv.Itoa(pid), "1", "1")))
		}
		return out
	}
	ctx := context.Background()
	if _, err := newPub().Publish(ctx, batch(1, 10)); err != nil { // an earlier relay's
		t.Fatal(err)
	}
	p := newPub()
	ends, err := p.EndOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := kafkatest.EndOffsets(broker.Addrs(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(ends) != partitions {
		t.Fatalf("end offsets %v, want every partition of %s: %v", ends, topic, want)
	}
	for part, end := range want {
		if ends[relay.TopicPartition{Topic: topic, Partition: part}] != end {
			t.Errorf("end offsets %v, broker says %v", ends, want)
		}
	}
	if topics, err := kafkatest.Topics(broker.Addrs()); err != nil || slices.Contains(topics, absent) {
		t.Errorf("topics %v (%v): reading end offsets created %s", topics, err, absent)
	}

	wrote, err := p.Publish(ctx, batch(11, 30))
	if err != nil {
		t.Fatal(err)
	}
	after, err := kafkatest.EndOffsets(broker.Addrs(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for tp, off := range wrote {
		if tp.Topic != topic || after[tp.Partition] != off {
			t.Errorf("publish says %v, broker ends at %v", wrote, after)
		}
	}
	if len(wrote) == 0 {
		t.Fatal("publish reported no offsets")
	}

	prog := &relay.Progress{GTID: "0-1-42", Offsets: wrote}
	if err := p.Heartbeat(ctx, fixedNow, prog); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	beats, err := kafkatest.Read(rctx, broker.Addrs(), debezium.HeartbeatTopic("gintoki"), 1)
	if err != nil {
		t.Fatal(err)
	}
	pos, _, found, err := debezium.DecodeHeartbeatPosition(beats[0].Value)
	if err != nil || !found || pos.GTID != "0-1-42" || len(pos.Offsets) != len(wrote) {
		t.Fatalf("heartbeat %s: %+v %v %v", beats[0].Value, pos, found, err)
	}
	for _, o := range pos.Offsets {
		if wrote[relay.TopicPartition{Topic: o.Topic, Partition: o.Partition}] != o.Offset {
			t.Errorf("heartbeat offsets %+v, wrote %v", pos.Offsets, wrote)
		}
	}
}
