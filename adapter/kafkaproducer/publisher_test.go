package kafkaproducer

import (
	"context"
	"errors"
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
)

// fakeSender records what would have gone to Kafka.
type fakeSender struct {
	mu      sync.Mutex
	sent    []*sarama.ProducerMessage
	failOn  int // fail the n-th send (1-based); 0 never
	err     error
	closes  int
	closeFn func() error
}

func (f *fakeSender) SendMessage(msg *sarama.ProducerMessage) (int32, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failOn == len(f.sent)+1 {
		f.failOn = 0
		return -1, -1, f.err
	}
	f.sent = append(f.sent, msg)
	return 0, int64(len(f.sent) - 1), nil
}

func (f *fakeSender) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	if f.closeFn != nil {
		return f.closeFn()
	}
	return nil
}

func (f *fakeSender) messages() []*sarama.ProducerMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sarama.ProducerMessage(nil), f.sent...)
}

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

func testConfig(withSchema bool) Config {
	return Config{Brokers: []string{"unused:9092"}, TopicPrefix: "dbserver1", Database: "inventory", WithSchema: withSchema}
}

func newTestPublisher(t *testing.T, cfg Config, opts ...Option) (*Publisher, *fakeSender) {
	t.Helper()
	o := options{now: func() time.Time { return fixedNow }, propagator: propagation.TraceContext{}}
	for _, opt := range opts {
		opt(&o)
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeSender{}
	return newPublisher(fake, cfg, o, m), fake
}

func bytesOf(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

func TestPublishStockWritesDebeziumEvents(t *testing.T) {
	before := &domain.StockRow{ProductID: 11, WarehouseID: 2, QtySalable: 5, Version: 100}
	after := &domain.StockRow{ProductID: 11, WarehouseID: 2, QtySalable: 9, Version: 101}
	const updatedAt = int64(1_741_064_767_891_234)

	for _, tc := range []struct {
		name          string
		op            domain.Op
		before, after *domain.StockRow
		wantRow       domain.StockRow
		wantTombstone bool
	}{
		{"insert", domain.OpCreate, nil, after, *after, false},
		{"update", domain.OpUpdate, before, after, *after, false},
		{"snapshot read", domain.OpRead, nil, after, *after, false},
		{"delete", domain.OpDelete, before, nil, *before, true},
	} {
		for _, withSchema := range []bool{false, true} {
			name := tc.name + map[bool]string{false: "/bare", true: "/wrapped"}[withSchema]
			t.Run(name, func(t *testing.T) {
				p, fake := newTestPublisher(t, testConfig(withSchema))
				if err := p.PublishStock(context.Background(), tc.op, tc.before, tc.after, updatedAt); err != nil {
					t.Fatalf("PublishStock: %v", err)
				}
				msgs := fake.messages()
				wantN := 1
				if tc.wantTombstone {
					wantN = 2
				}
				if len(msgs) != wantN {
					t.Fatalf("sent %d messages, want %d", len(msgs), wantN)
				}
				ev := msgs[0]
				if ev.Topic != "dbserver1.inventory.stock_items" {
					t.Errorf("topic = %q, want dbserver1.inventory.stock_items", ev.Topic)
				}
				key := bytesOf(t, ev.Key)
				pid, wid, err := debezium.DecodeStockKey(key)
				if err != nil || pid != tc.wantRow.ProductID || wid != tc.wantRow.WarehouseID {
					t.Errorf("key %s decodes to (%d, %d, %v), want (%d, %d)", key, pid, wid, err, tc.wantRow.ProductID, tc.wantRow.WarehouseID)
				}
				if got := strings.HasPrefix(string(key), `{"schema":`); got != withSchema {
					t.Errorf("key %s: schema wrapper present = %v, want %v", key, got, withSchema)
				}

				value := bytesOf(t, ev.Value)
				change, err := debezium.DecodeStock(value)
				if err != nil {
					t.Fatalf("DecodeStock(%s): %v", value, err)
				}
				want := domain.StockChange{Op: tc.op, Row: tc.wantRow, SourceTsMs: fixedNow.UnixMilli()}
				if change != want {
					t.Errorf("decoded %+v, want %+v", change, want)
				}
				env, err := debezium.DecodeEnvelope(value)
				if err != nil {
					t.Fatalf("DecodeEnvelope: %v", err)
				}
				if env.Wrapped != withSchema {
					t.Errorf("value wrapped = %v, want %v", env.Wrapped, withSchema)
				}
				wantSrc := debezium.SourceInfo{Version: SourceVersion, Connector: "mysql", Name: "dbserver1", DB: "inventory",
					Table: "stock_items", Snapshot: "false", TsMs: fixedNow.UnixMilli()}
				if env.Source != wantSrc {
					t.Errorf("source = %+v, want %+v", env.Source, wantSrc)
				}
				if env.TsMs != fixedNow.UnixMilli() {
					t.Errorf("ts_ms = %d, want %d", env.TsMs, fixedNow.UnixMilli())
				}
				if !strings.Contains(string(value), `"updated_at":1741064767891234`) {
					t.Errorf("value %s does not carry updated_at %d", value, updatedAt)
				}

				if tc.wantTombstone {
					tomb := msgs[1]
					if tomb.Topic != ev.Topic || string(bytesOf(t, tomb.Key)) != string(key) {
						t.Errorf("tombstone on %q with key %s, want %q with key %s", tomb.Topic, bytesOf(t, tomb.Key), ev.Topic, key)
					}
					if tomb.Value != nil {
						t.Errorf("tombstone value = %s, want null", bytesOf(t, tomb.Value))
					}
				}
			})
		}
	}
}

func TestPublishStockTruncateHasNoKey(t *testing.T) {
	p, fake := newTestPublisher(t, testConfig(false))
	if err := p.PublishStock(context.Background(), domain.OpTruncate, nil, nil, 0); err != nil {
		t.Fatalf("PublishStock(truncate): %v", err)
	}
	msgs := fake.messages()
	if len(msgs) != 1 || msgs[0].Key != nil {
		t.Fatalf("sent %d messages (first key %v), want one keyless message", len(msgs), msgs)
	}
	change, err := debezium.DecodeStock(bytesOf(t, msgs[0].Value))
	if err != nil || change.Op != domain.OpTruncate {
		t.Errorf("decoded %+v, %v; want a truncate", change, err)
	}
}

func TestPublishStockAtKeepsLogPosition(t *testing.T) {
	p, fake := newTestPublisher(t, testConfig(false))
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 3, Version: 7}
	src := debezium.Source{
		Name: "ignored", DB: "ignored", Table: "ignored", // always from the configuration
		Version: "relay-1", ServerID: 223344, File: "mysql-bin.000003", Pos: 484, Row: 1,
		TsMs: 1_700_000_000_123, GTID: "0-1-42", Thread: 7,
	}
	if err := p.PublishStockAt(context.Background(), domain.OpCreate, nil, row, 0, src); err != nil {
		t.Fatalf("PublishStockAt: %v", err)
	}
	env, err := debezium.DecodeEnvelope(bytesOf(t, fake.messages()[0].Value))
	if err != nil {
		t.Fatal(err)
	}
	want := debezium.SourceInfo{Version: "relay-1", Connector: "mysql", Name: "dbserver1", DB: "inventory", Table: "stock_items",
		Snapshot: "false", TsMs: 1_700_000_000_123, ServerID: 223344, GTID: "0-1-42", File: "mysql-bin.000003", Pos: 484, Row: 1, Thread: 7}
	if env.Source != want {
		t.Errorf("source = %+v, want %+v", env.Source, want)
	}
}

func TestPublishWarehouse(t *testing.T) {
	p, fake := newTestPublisher(t, testConfig(true))
	w := &domain.Warehouse{ID: 4, Code: "BER-1", Name: "Berlin \"Mitte\"", Active: true, Version: 9}
	if err := p.PublishWarehouse(context.Background(), domain.OpUpdate, nil, w, 1); err != nil {
		t.Fatalf("PublishWarehouse(update): %v", err)
	}
	if err := p.PublishWarehouse(context.Background(), domain.OpDelete, w, nil, 2); err != nil {
		t.Fatalf("PublishWarehouse(delete): %v", err)
	}
	msgs := fake.messages()
	if len(msgs) != 3 {
		t.Fatalf("sent %d messages, want update, delete and tombstone", len(msgs))
	}
	for i, m := range msgs {
		if m.Topic != "dbserver1.inventory.warehouses" {
			t.Errorf("message %d on topic %q", i, m.Topic)
		}
		id, err := debezium.DecodeWarehouseKey(bytesOf(t, m.Key))
		if err != nil || id != 4 {
			t.Errorf("message %d key decodes to %d, %v; want 4", i, id, err)
		}
	}
	for i, wantOp := range []domain.Op{domain.OpUpdate, domain.OpDelete} {
		change, err := debezium.DecodeWarehouse(bytesOf(t, msgs[i].Value))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if change.Op != wantOp || change.Row != *w {
			t.Errorf("message %d decodes to %+v, want op %s row %+v", i, change, wantOp, *w)
		}
	}
	if msgs[2].Value != nil {
		t.Errorf("third message is not a tombstone")
	}
}

func TestPublishRejectsBadEventsWithoutSending(t *testing.T) {
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name          string
		ctx           context.Context
		op            domain.Op
		before, after *domain.StockRow
		want          error
	}{
		{"update without images", context.Background(), domain.OpUpdate, nil, nil, nil},
		{"delete with an after-image", context.Background(), domain.OpDelete, row, row, nil},
		{"unknown op", context.Background(), domain.Op('x'), nil, row, nil},
		{"non-positive id", context.Background(), domain.OpCreate, nil, &domain.StockRow{ProductID: 0, WarehouseID: 1}, nil},
		{"cancelled context", cancelled, domain.OpUpdate, nil, row, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fake := newTestPublisher(t, testConfig(false))
			err := p.PublishStock(tc.ctx, tc.op, tc.before, tc.after, 0)
			if err == nil {
				t.Fatal("PublishStock succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want one wrapping %v", err, tc.want)
			}
			if n := len(fake.messages()); n != 0 {
				t.Errorf("%d messages sent for a rejected event", n)
			}
		})
	}
}

func TestPublishSendFailures(t *testing.T) {
	broker := errors.New("broker gone")
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	for _, tc := range []struct {
		name     string
		failOn   int
		wantSent int
	}{
		// The tombstone must not go out when the delete itself did not.
		{"delete event fails", 1, 0},
		{"tombstone fails", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p, fake := newTestPublisher(t, testConfig(false), WithRegisterer(reg))
			fake.failOn, fake.err = tc.failOn, broker
			err := p.PublishStock(context.Background(), domain.OpDelete, row, nil, 0)
			if !errors.Is(err, broker) {
				t.Fatalf("err = %v, want one wrapping %v", err, broker)
			}
			if n := len(fake.messages()); n != tc.wantSent {
				t.Errorf("%d messages sent, want %d", n, tc.wantSent)
			}
			topic := p.StockTopic()
			if got := counterValue(t, p.metrics.failed.WithLabelValues(topic)); got != 1 {
				t.Errorf("errors counted = %v, want 1", got)
			}
			if got := counterValue(t, p.metrics.published.WithLabelValues(topic)); got != float64(tc.wantSent) {
				t.Errorf("published counted = %v, want %d", got, tc.wantSent)
			}
		})
	}
}

func TestPublishedMetricCountsMessagesPerTopic(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, _ := newTestPublisher(t, testConfig(false), WithRegisterer(reg))
	// A second publisher on the same registry shares the counters instead
	// of failing to register.
	p2, _ := newTestPublisher(t, testConfig(false), WithRegisterer(reg))
	ctx := context.Background()
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	w := &domain.Warehouse{ID: 1, Code: "A", Version: 1}
	for _, err := range []error{
		p.PublishStock(ctx, domain.OpUpdate, nil, row, 0),
		p2.PublishStock(ctx, domain.OpDelete, row, nil, 0), // event + tombstone
		p.PublishWarehouse(ctx, domain.OpCreate, nil, w, 0),
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
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"dbserver1.inventory.stock_items": 3, "dbserver1.inventory.warehouses": 1}
	if len(got) != len(want) || got["dbserver1.inventory.stock_items"] != 3 || got["dbserver1.inventory.warehouses"] != 1 {
		t.Errorf("gintoki_cdc_published_total = %v, want %v", got, want)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestPublishInjectsTraceContext(t *testing.T) {
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	parent := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}

	t.Run("caller span", func(t *testing.T) {
		p, fake := newTestPublisher(t, testConfig(false))
		if err := p.PublishStock(parent, domain.OpDelete, row, nil, 0); err != nil {
			t.Fatal(err)
		}
		want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		for i, m := range fake.messages() {
			c := headerCarrier{headers: m.Headers}
			if got := c.Get("traceparent"); got != want {
				t.Errorf("message %d: traceparent = %q, want %q", i, got, want)
			}
		}
	})

	t.Run("no span", func(t *testing.T) {
		p, fake := newTestPublisher(t, testConfig(false))
		if err := p.PublishStock(context.Background(), domain.OpUpdate, nil, row, 0); err != nil {
			t.Fatal(err)
		}
		if h := fake.messages()[0].Headers; len(h) != 0 {
			t.Errorf("headers = %v, want none without a span", h)
		}
	})

	t.Run("producer span", func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		p, fake := newTestPublisher(t, testConfig(false), WithTracerProvider(tp))
		if err := p.PublishStock(parent, domain.OpUpdate, nil, row, 0); err != nil {
			t.Fatal(err)
		}
		spans := rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%d spans ended, want 1", len(spans))
		}
		s := spans[0]
		if s.SpanKind() != trace.SpanKindProducer || s.Parent().SpanID() != spanID || s.SpanContext().TraceID() != traceID {
			t.Errorf("span kind %v parent %v trace %v; want a producer span under the caller's", s.SpanKind(), s.Parent().SpanID(), s.SpanContext().TraceID())
		}
		c := headerCarrier{headers: fake.messages()[0].Headers}
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

func TestCloseWaitsAndRefusesLaterPublishes(t *testing.T) {
	p, fake := newTestPublisher(t, testConfig(false))
	closeErr := errors.New("flush failed")
	fake.closeFn = func() error { return closeErr }
	if err := p.Close(); !errors.Is(err, closeErr) {
		t.Errorf("Close() = %v, want one wrapping %v", err, closeErr)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if fake.closes != 1 {
		t.Errorf("producer closed %d times, want once", fake.closes)
	}
	row := &domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1, Version: 1}
	if err := p.PublishStock(context.Background(), domain.OpUpdate, nil, row, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after Close: err = %v, want ErrClosed", err)
	}
	if n := len(fake.messages()); n != 0 {
		t.Errorf("%d messages sent after Close", n)
	}
}

func TestCloseConcurrentWithPublishes(t *testing.T) {
	p, fake := newTestPublisher(t, testConfig(false))
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
	sentAtClose := len(fake.messages())
	wg.Wait()
	if n := len(fake.messages()); n != sentAtClose {
		t.Errorf("%d messages sent after Close returned", n-sentAtClose)
	}
	if n := succeeded.Load(); n != int64(sentAtClose) {
		t.Errorf("%d publishes succeeded but %d messages were sent", n, sentAtClose)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := testConfig(false)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, "no brokers"},
		{"no prefix", func(c *Config) { c.TopicPrefix = "" }, "topic prefix is empty"},
		{"no database", func(c *Config) { c.Database = "" }, "database is empty"},
		{"bad prefix", func(c *Config) { c.TopicPrefix = "db server" }, `holds " "`},
		{"long names", func(c *Config) { c.Database = strings.Repeat("d", 240) }, "Kafka allows 249"},
		{"bad version", func(c *Config) { c.Version = "latest" }, `version "latest"`},
		{"old version", func(c *Config) { c.Version = "0.10.2.0" }, "too old"},
		{"bad tuning", func(c *Config) { c.Idempotent = true }, "MaxOpenRequests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			var opts []Option
			if tc.name == "bad tuning" {
				opts = append(opts, WithSaramaConfig(func(c *sarama.Config) { c.Net.MaxOpenRequests = 5 }))
			}
			p, err := New(cfg, opts...)
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
	for _, idempotent := range []bool{false, true} {
		cfg := testConfig(false)
		cfg.Idempotent = idempotent
		cfg.Version = "3.6.0"
		sc, err := cfg.saramaConfig()
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("idempotent=%v: %v", idempotent, err)
		}
		if sc.Producer.RequiredAcks != sarama.WaitForAll || !sc.Producer.Return.Successes {
			t.Errorf("idempotent=%v: acks %v, successes %v; want acks=all and successes returned",
				idempotent, sc.Producer.RequiredAcks, sc.Producer.Return.Successes)
		}
		if sc.Producer.Idempotent != idempotent || idempotent && sc.Net.MaxOpenRequests != 1 {
			t.Errorf("idempotent=%v: producer idempotent %v, max open requests %d", idempotent, sc.Producer.Idempotent, sc.Net.MaxOpenRequests)
		}
		if sc.ClientID != defaultClientID || sc.Version != sarama.V3_6_0_0 {
			t.Errorf("client id %q version %v", sc.ClientID, sc.Version)
		}
		if _, err := sc.Producer.Partitioner("t").Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("21")}, 7); err != nil {
			t.Error(err)
		} else if got, _ := sc.Producer.Partitioner("t").Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("21")}, 7); got != 3 {
			t.Errorf("configured partitioner puts key 21 on %d of 7, want Kafka's 3", got)
		}
	}
}
