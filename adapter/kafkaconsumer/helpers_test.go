package kafkaconsumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/changefeed"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

const (
	testStockTopic     = "dbz.inventory.stock_items"
	testWarehouseTopic = "dbz.inventory.warehouses"
)

var groupSeq atomic.Int64

// uniqueGroup keeps tests that share nothing from sharing a group.
func uniqueGroup(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), groupSeq.Add(1))
}

func startBroker(t *testing.T, opts ...kafkabroker.Option) *kafkabroker.Broker {
	t.Helper()
	b, err := kafkabroker.Start(opts...)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// freePort finds a port nothing listens on, for brokers restarted in place.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type harness struct {
	consumer *Consumer
	applier  *fakeApplier
	feed     *fakeFeed
	reg      *prometheus.Registry
}

type harnessOption func(*Config, *Options)

func withPoll(d time.Duration) harnessOption {
	return func(_ *Config, o *Options) { o.PollInterval = d }
}

func withSASL(s SASLConfig) harnessOption {
	return func(c *Config, _ *Options) { c.SASL = s }
}

// newHarness builds a consumer with fakes; it does not start it. Stop is
// registered for cleanup.
func newHarness(t *testing.T, brokers []string, group string, opts ...harnessOption) *harness {
	t.Helper()
	cfg := Config{
		Brokers:        brokers,
		Group:          group,
		StockTopic:     testStockTopic,
		WarehouseTopic: testWarehouseTopic,
	}
	reg := prometheus.NewRegistry()
	o := Options{Logger: testLogger(t), Registerer: reg, PollInterval: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	h := &harness{applier: &fakeApplier{}, feed: newFakeFeed(), reg: reg}
	c, err := New(cfg, h.applier, h.feed, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.consumer = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if v := h.feed.violations(); len(v) > 0 {
			t.Errorf("feed protocol violations: %v", v)
		}
	})
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	if err := h.consumer.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.consumer.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// waitSessions waits until n sessions have started.
func (h *harness) waitSessions(t *testing.T, n int) sessionStart {
	t.Helper()
	polltest.Until(t, 20*time.Second, fmt.Sprintf("%d started session(s)", n), func() bool {
		return len(h.feed.sessionStarts()) >= n
	})
	s := h.feed.sessionStarts()
	return s[len(s)-1]
}

func (h *harness) events(topic, outcome string) float64 {
	return metricValue(h.consumer.metrics.events.WithLabelValues(topic, outcome))
}

// metricValue reads a counter or gauge without a scrape.
func metricValue(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		return -1
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	return -1
}

// observations counts what a histogram child has seen.
func observations(o prometheus.Observer) uint64 {
	m, ok := o.(prometheus.Metric)
	if !ok {
		return 0
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil || out.Histogram == nil {
		return 0
	}
	return out.Histogram.GetSampleCount()
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// producer sends to an explicit partition so tests control the order.
type producer struct {
	t *testing.T
	p sarama.SyncProducer
}

func newProducer(t *testing.T, brokers []string) *producer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	cfg.Metadata.Retry.Max = 10
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &producer{t: t, p: p}
}

func (p *producer) send(topic string, partition int32, key, value []byte, headers ...sarama.RecordHeader) int64 {
	p.t.Helper()
	msg := &sarama.ProducerMessage{Topic: topic, Partition: partition, Headers: headers}
	if key != nil {
		msg.Key = sarama.ByteEncoder(key)
	}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	_, off, err := p.p.SendMessage(msg)
	if err != nil {
		p.t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	return off
}

// stock sends an update of (productID, warehouse 1) at version.
func (p *producer) stock(partition int32, productID int64, version uint64) int64 {
	p.t.Helper()
	row := domain.StockRow{ProductID: productID, WarehouseID: 1, QtySalable: int32(version), Version: version}
	value, err := debeziumtest.EncodeStock(domain.OpUpdate, nil, &row, debezium.Source{TsMs: time.Now().UnixMilli()}, false, 0)
	if err != nil {
		p.t.Fatalf("encode stock: %v", err)
	}
	key, err := debeziumtest.EncodeStockKey(debezium.Source{}, productID, 1, false)
	if err != nil {
		p.t.Fatalf("encode stock key: %v", err)
	}
	return p.send(testStockTopic, partition, key, value)
}

func (p *producer) warehouse(id int64, code string, version uint64) int64 {
	p.t.Helper()
	row := domain.Warehouse{ID: id, Code: code, Name: code, Active: true, Version: version}
	value, err := debeziumtest.EncodeWarehouse(domain.OpUpdate, nil, &row, debezium.Source{TsMs: time.Now().UnixMilli()}, true, 0)
	if err != nil {
		p.t.Fatalf("encode warehouse: %v", err)
	}
	key, err := debeziumtest.EncodeWarehouseKey(debezium.Source{}, id, true)
	if err != nil {
		p.t.Fatalf("encode warehouse key: %v", err)
	}
	return p.send(testWarehouseTopic, 0, key, value)
}

func stockPart(n int32) changefeed.Partition {
	return changefeed.Partition{Topic: testStockTopic, Partition: n}
}

func warehousePart() changefeed.Partition {
	return changefeed.Partition{Topic: testWarehouseTopic, Partition: 0}
}

func withLogger(l *slog.Logger) harnessOption {
	return func(_ *Config, o *Options) { o.Logger = l }
}
