// Package kafkaproducer publishes row changes to Kafka as Debezium's MySQL
// connector would: the same topics, keys, envelopes, tombstones and
// partitioning. The demo's change simulator and the binlog relay use it, so
// the consumer cannot tell them from a real Debezium deployment.
package kafkaproducer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// Table names, as the topic suffix and source.table.
const (
	StockTable     = "stock_items"
	WarehouseTable = "warehouses"
)

// SourceVersion is written as source.version when the caller gives none.
// Debezium puts its own release there; this names the writer instead.
const SourceVersion = "gintoki"

const (
	defaultClientID = "gintoki-producer"
	// Kafka refuses longer topic names.
	maxTopicLen = 249
	tracerName  = "github.com/gintoki/gintoki/adapter/kafkaproducer"
)

// ErrClosed is returned by a publish after Close.
var ErrClosed = errors.New("kafka publisher is closed")

// Config says where and how to publish.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// Version is the Kafka protocol version to speak, e.g. "2.8.0"; empty
	// takes sarama's default. Headers (trace context) need 0.11 or later.
	Version string
	// ClientID names this producer to the brokers; empty: "gintoki-producer".
	ClientID string
	// Idempotent makes the brokers drop duplicates that producer retries
	// would otherwise write. Kafka requires acks=all and one request in
	// flight per connection for it, and both are set.
	Idempotent bool
	// TopicPrefix is Debezium's topic.prefix; it is also source.name.
	TopicPrefix string
	// Database is the database name, part of the topic and source.db.
	Database string
	// WithSchema writes the {"schema","payload"} wrapper around keys and
	// values (the JsonConverter's schemas.enable=true).
	WithSchema bool
}

// StockTopic is the topic of stock_items changes: <prefix>.<db>.stock_items.
func StockTopic(prefix, db string) string { return prefix + "." + db + "." + StockTable }

// WarehouseTopic is the topic of warehouses changes.
func WarehouseTopic(prefix, db string) string { return prefix + "." + db + "." + WarehouseTable }

// Option changes optional behaviour of New.
type Option func(*options)

type options struct {
	registerer prometheus.Registerer
	tracer     trace.TracerProvider
	propagator propagation.TextMapPropagator
	now        func() time.Time
	tune       func(*sarama.Config)
}

// WithRegisterer registers gintoki_cdc_published_total{topic} and
// gintoki_cdc_publish_errors_total{topic} on reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}

// WithTracerProvider records a producer span per published event; the span
// is what the message headers then name as parent. Without it the headers
// carry the caller's span.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// WithPropagator sets how trace context goes into message headers. The
// default is the global propagator (otel.GetTextMapPropagator) as it is at
// publish time.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

// WithSaramaConfig lets the caller adjust the sarama configuration (timeouts,
// retries, TLS) after New has filled it in and before it is validated.
func WithSaramaConfig(tune func(*sarama.Config)) Option {
	return func(o *options) { o.tune = tune }
}

// sender is the part of sarama.SyncProducer the publisher uses.
type sender interface {
	SendMessage(msg *sarama.ProducerMessage) (partition int32, offset int64, err error)
	Close() error
}

// Publisher writes change events to Kafka. It is safe for concurrent use;
// events published one after another from one goroutine keep their order.
type Publisher struct {
	producer       sender
	stockTopic     string
	warehouseTopic string
	prefix, db     string
	withSchema     bool
	now            func() time.Time
	propagator     propagation.TextMapPropagator
	tracer         trace.Tracer
	metrics        *metrics

	// mu lets Close wait for publishes in flight and keeps later ones off
	// the closed producer (sarama panics on a send after Close).
	mu     sync.RWMutex
	closed bool
}

// New connects a synchronous producer to the brokers. Records are
// acknowledged by all in-sync replicas before a publish returns.
func New(cfg Config, opts ...Option) (*Publisher, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sc, m, err := producerSetup(cfg, o, "kafka producer")
	if err != nil {
		return nil, err
	}
	producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect kafka producer to %v: %w", cfg.Brokers, err)
	}
	return newPublisher(producer, cfg, o, m), nil
}

func newPublisher(producer sender, cfg Config, o options, m *metrics) *Publisher {
	p := &Publisher{
		producer:       producer,
		stockTopic:     StockTopic(cfg.TopicPrefix, cfg.Database),
		warehouseTopic: WarehouseTopic(cfg.TopicPrefix, cfg.Database),
		prefix:         cfg.TopicPrefix,
		db:             cfg.Database,
		withSchema:     cfg.WithSchema,
		now:            o.now,
		propagator:     o.propagator,
		metrics:        m,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if o.tracer != nil {
		p.tracer = o.tracer.Tracer(tracerName)
	}
	return p
}

func (c Config) check() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka producer: no brokers given")
	}
	for _, f := range [...]struct{ name, v string }{{"topic prefix", c.TopicPrefix}, {"database", c.Database}} {
		name, v := f.name, f.v
		if v == "" {
			return fmt.Errorf("kafka producer: %s is empty; it names the topics", name)
		}
		if i := strings.IndexFunc(v, func(r rune) bool { return !isTopicChar(r) }); i >= 0 {
			return fmt.Errorf("kafka producer: %s %q holds %q; topics allow only ASCII letters, digits, '.', '_' and '-'", name, v, v[i:i+1])
		}
	}
	if n := len(StockTopic(c.TopicPrefix, c.Database)); n > maxTopicLen {
		return fmt.Errorf("kafka producer: topic prefix and database make a %d-character topic, Kafka allows %d", n, maxTopicLen)
	}
	return nil
}

func isTopicChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

func (c Config) saramaConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	if c.Version != "" {
		v, err := sarama.ParseKafkaVersion(c.Version)
		if err != nil {
			return nil, fmt.Errorf("kafka producer: version %q: %w", c.Version, err)
		}
		sc.Version = v
	}
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("kafka producer: version %s is too old, record headers need 0.11.0 or later", sc.Version)
	}
	sc.ClientID = c.ClientID
	if sc.ClientID == "" {
		sc.ClientID = defaultClientID
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	// acks=all either way: an event acknowledged by the leader alone can
	// vanish on failover, and a consumer that missed it would serve the
	// old row until the TTL.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = NewPartitioner
	if c.Idempotent {
		sc.Producer.Idempotent = true
		sc.Net.MaxOpenRequests = 1
		if sc.Producer.Retry.Max < 1 {
			sc.Producer.Retry.Max = 1
		}
	}
	return sc, nil
}

// PublishStock writes one stock_items change event stamped with the current
// time, and after a delete the tombstone that lets compaction drop the key.
// before and after follow the op as in debezium.EncodeStock; updatedAtMicros
// is the rows' updated_at.
func (p *Publisher) PublishStock(ctx context.Context, op domain.Op, before, after *domain.StockRow, updatedAtMicros int64) error {
	return p.PublishStockAt(ctx, op, before, after, updatedAtMicros, debezium.Source{})
}

// PublishStockAt is PublishStock for a writer that knows where the change
// sits in the database's log (a binlog reader): src's position fields
// (ServerID, File, Pos, Row, GTID, Thread, Snapshot, TsMs) are written as
// given. Name, DB and Table always come from the configuration; an empty
// Version and Connector, and a zero TsMs, are filled in.
func (p *Publisher) PublishStockAt(ctx context.Context, op domain.Op, before, after *domain.StockRow, updatedAtMicros int64, src debezium.Source) error {
	src = p.source(src, StockTable)
	var key []byte
	if op != domain.OpTruncate {
		row := after
		if row == nil {
			row = before
		}
		if row == nil {
			return fmt.Errorf("publish stock_items %s event: no row image", op)
		}
		k, err := debezium.EncodeStockKeyFor(src, row.ProductID, row.WarehouseID, p.withSchema)
		if err != nil {
			return fmt.Errorf("publish stock_items %s event: %w", op, err)
		}
		key = k
	}
	value, err := debezium.EncodeStock(op, before, after, src, p.withSchema, updatedAtMicros)
	if err != nil {
		return fmt.Errorf("publish stock_items %s event: %w", op, err)
	}
	return p.publish(ctx, p.stockTopic, op, key, value)
}

// PublishWarehouse writes one warehouses change event; see PublishStock.
func (p *Publisher) PublishWarehouse(ctx context.Context, op domain.Op, before, after *domain.Warehouse, updatedAtMicros int64) error {
	return p.PublishWarehouseAt(ctx, op, before, after, updatedAtMicros, debezium.Source{})
}

// PublishWarehouseAt is PublishWarehouse with a log position; see
// PublishStockAt.
func (p *Publisher) PublishWarehouseAt(ctx context.Context, op domain.Op, before, after *domain.Warehouse, updatedAtMicros int64, src debezium.Source) error {
	src = p.source(src, WarehouseTable)
	var key []byte
	if op != domain.OpTruncate {
		row := after
		if row == nil {
			row = before
		}
		if row == nil {
			return fmt.Errorf("publish warehouses %s event: no row image", op)
		}
		k, err := debezium.EncodeWarehouseKeyFor(src, row.ID, p.withSchema)
		if err != nil {
			return fmt.Errorf("publish warehouses %s event: %w", op, err)
		}
		key = k
	}
	value, err := debezium.EncodeWarehouse(op, before, after, src, p.withSchema, updatedAtMicros)
	if err != nil {
		return fmt.Errorf("publish warehouses %s event: %w", op, err)
	}
	return p.publish(ctx, p.warehouseTopic, op, key, value)
}

// StockTopic is the topic stock_items events go to.
func (p *Publisher) StockTopic() string { return p.stockTopic }

// WarehouseTopic is the topic warehouses events go to.
func (p *Publisher) WarehouseTopic() string { return p.warehouseTopic }

// Close waits for publishes in flight, flushes and closes the producer.
// Publishing afterwards returns ErrClosed; closing again does nothing.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.producer.Close(); err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}

func (p *Publisher) source(src debezium.Source, table string) debezium.Source {
	src.Name, src.DB, src.Table = p.prefix, p.db, table
	if src.Connector == "" {
		src.Connector = "mysql"
	}
	if src.Version == "" {
		src.Version = SourceVersion
	}
	if src.TsMs == 0 {
		src.TsMs = p.now().UnixMilli()
	}
	return src
}

// publish sends the event and, after a delete, the tombstone with the same
// key. The tombstone is sent only once the event is acknowledged, so it can
// never land before it.
func (p *Publisher) publish(ctx context.Context, topic string, op domain.Op, key, value []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish %s event to %s: %w", op, topic, err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("publish %s event to %s: %w", op, topic, ErrClosed)
	}

	if p.tracer != nil {
		var span trace.Span
		ctx, span = p.tracer.Start(ctx, topic+" publish",
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.destination.name", topic),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("gintoki.cdc.op", op.String()),
			))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
	}
	headers := p.traceHeaders(ctx)

	if err := p.send(topic, key, value, headers); err != nil {
		return fmt.Errorf("publish %s event to %s: %w", op, topic, err)
	}
	if op == domain.OpDelete {
		if err := p.send(topic, key, nil, headers); err != nil {
			return fmt.Errorf("publish tombstone to %s after a delete: %w", topic, err)
		}
	}
	return nil
}

func (p *Publisher) send(topic string, key, value []byte, headers []sarama.RecordHeader) error {
	msg := &sarama.ProducerMessage{Topic: topic, Headers: headers}
	if key != nil {
		msg.Key = sarama.ByteEncoder(key)
	}
	// A nil Value is how sarama writes a null value (a tombstone).
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	_, _, err := p.producer.SendMessage(msg)
	p.metrics.record(topic, err)
	return err
}

func (p *Publisher) traceHeaders(ctx context.Context) []sarama.RecordHeader {
	prop := p.propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	var c headerCarrier
	prop.Inject(ctx, &c)
	return c.headers
}

// headerCarrier adapts record headers to the propagation API.
type headerCarrier struct{ headers []sarama.RecordHeader }

func (c *headerCarrier) Get(key string) string {
	for _, h := range c.headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c *headerCarrier) Set(key, value string) {
	for i, h := range c.headers {
		if string(h.Key) == key {
			c.headers[i].Value = []byte(value)
			return
		}
	}
	c.headers = append(c.headers, sarama.RecordHeader{Key: []byte(key), Value: []byte(value)})
}

func (c *headerCarrier) Keys() []string {
	keys := make([]string, len(c.headers))
	for i, h := range c.headers {
		keys[i] = string(h.Key)
	}
	return keys
}

type metrics struct {
	published, failed *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	published, err := registerCounterVec(reg, prometheus.CounterOpts{
		Name: "gintoki_cdc_published_total",
		Help: "Change-event messages (events and tombstones) acknowledged by Kafka, by topic.",
	})
	if err != nil {
		return nil, err
	}
	failed, err := registerCounterVec(reg, prometheus.CounterOpts{
		Name: "gintoki_cdc_publish_errors_total",
		Help: "Change-event messages Kafka did not acknowledge, by topic.",
	})
	if err != nil {
		return nil, err
	}
	return &metrics{published: published, failed: failed}, nil
}

// registerCounterVec registers the vector, or reuses the one a previous
// publisher registered on the same registry.
func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(opts, []string{"topic"})
	if err := reg.Register(vec); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("register %s: %w", opts.Name, err)
	}
	return vec, nil
}

func (m *metrics) record(topic string, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.failed.WithLabelValues(topic).Inc()
		return
	}
	m.published.WithLabelValues(topic).Inc()
}

// producerSetup turns cfg and the options into a validated sarama config
// and the metrics; both publishers (events, relay changes) start here.
func producerSetup(cfg Config, o options, what string) (*sarama.Config, *metrics, error) {
	sc, err := cfg.saramaConfig()
	if err != nil {
		return nil, nil, err
	}
	if o.tune != nil {
		o.tune(sc)
		// Without successes a SyncProducer cannot tell when a send ends.
		sc.Producer.Return.Successes, sc.Producer.Return.Errors = true, true
	}
	if err := sc.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s config: %w", what, err)
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		return nil, nil, err
	}
	return sc, m, nil
}
