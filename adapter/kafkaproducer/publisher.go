// Package kafkaproducer publishes row changes to Kafka as Debezium's MySQL
// connector would: the same topics, keys, envelopes, tombstones, heartbeats
// and partitioning. The binlog relay and the demo's change simulator use
// the one Publisher, so the consumer cannot tell either from a real
// Debezium deployment.
package kafkaproducer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
	"github.com/gintoki/gintoki/adapter/kafkatopic"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

// SourceVersion is written as source.version. Debezium puts its own
// release there; this names the writer instead.
const SourceVersion = "gintoki"

const (
	defaultClientID = "gintoki-producer"
	tracerName      = "github.com/gintoki/gintoki/adapter/kafkaproducer"
)

// ErrClosed is returned by a publish after Close.
var ErrClosed = errors.New("kafka publisher is closed")

// Config says where and how to publish.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// Version is the Kafka protocol version to speak, e.g. "2.8.0"; empty
	// takes sarama's default. Idempotence and headers need 0.11 or later.
	Version string
	// ClientID names this producer to the brokers; empty: "gintoki-producer".
	ClientID string
	// TopicPrefix is Debezium's topic.prefix; it is also source.name.
	TopicPrefix string
	// Database is the database of PublishStock's rows; relay changes name
	// their own.
	Database string
	// WithSchema writes the {"schema","payload"} wrapper around keys and
	// values (the JsonConverter's schemas.enable=true).
	WithSchema bool
	// Tables are the captured tables of Database: EndOffsets reads their
	// topics.
	Tables []string
	// CreateTopics, when set, makes the publisher create each change topic
	// it is about to write, and those of Tables, when missing, rather than
	// leave that to the broker's auto-creation (which gives the broker's
	// partition count and cleanup.policy=delete). Nil: the topics must
	// exist (the demo's broker is seeded with them).
	CreateTopics *TopicCreation
}

// TopicCreation is how the publisher creates a missing change topic:
// compacted, so that it keeps the newest record of every row for good and a
// read node can build its cache from it (--cache-bootstrap=topic).
type TopicCreation struct {
	// Partitions of a new topic; 0 means 1.
	Partitions int32
	// Replication factor of a new topic; -1 (or 0) is the broker's
	// default.
	Replication int16
	// DeleteRetention is the topic's delete.retention.ms: how long a
	// tombstone stays readable after compaction, so that a read node
	// reading the topic meanwhile still sees the delete; 0 means
	// DefaultDeleteRetention.
	DeleteRetention time.Duration
}

// DefaultDeleteRetention keeps a tombstone for a day, Kafka's own default,
// written out so that a broker configured otherwise does not change it.
const DefaultDeleteRetention = 24 * time.Hour

// spec is the topic specification of t.
func (t TopicCreation) spec() kafkatopic.Spec {
	compact := "compact"
	keep := t.DeleteRetention
	if keep == 0 {
		keep = DefaultDeleteRetention
	}
	retention := strconv.FormatInt(keep.Milliseconds(), 10)
	return kafkatopic.Spec{Partitions: max(t.Partitions, 1), Replication: max(t.Replication, -1),
		Configs: map[string]*string{"cleanup.policy": &compact, "delete.retention.ms": &retention}}
}

func (t TopicCreation) check() error {
	if t.Partitions < 0 || t.Replication < -1 || t.DeleteRetention < 0 {
		return fmt.Errorf("kafka producer: change topics of %d partitions, replication %d, delete retention %s: none may be negative (replication -1 is the broker's default)",
			t.Partitions, t.Replication, t.DeleteRetention)
	}
	return nil
}

// ChangeTopic is the topic Debezium writes a table's changes to,
// <prefix>.<db>.<table>, with every character Kafka does not allow in a
// topic name replaced by '_', as Debezium does.
func ChangeTopic(prefix, db, table string) string {
	return strings.Map(func(r rune) rune {
		if isTopicChar(r) {
			return r
		}
		return '_'
	}, prefix+"."+db+"."+table)
}

func isTopicChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// Option changes optional behaviour of New.
type Option func(*options)

type options struct {
	registerer prometheus.Registerer
	tracer     trace.TracerProvider
	propagator propagation.TextMapPropagator
	now        func() time.Time
	tune       func(*sarama.Config)
	log        *slog.Logger
}

// WithRegisterer registers gintoki_cdc_published_total{topic} and
// gintoki_cdc_publish_errors_total{topic} on reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}

// WithTracerProvider records a producer span per published batch; the span
// is what the message headers then name as parent. Without it the headers
// carry the caller's span, if any.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// WithLogger is where the publisher says what it did to the change topics
// (created one, found one not compacted); without it slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// WithSaramaConfig lets the caller adjust the sarama configuration (timeouts,
// retries, TLS) after New has filled it in and before it is validated.
func WithSaramaConfig(tune func(*sarama.Config)) Option {
	return func(o *options) { o.tune = tune }
}

// batchSender is the part of sarama.SyncProducer the publisher uses.
type batchSender interface {
	SendMessages(msgs []*sarama.ProducerMessage) error
	Close() error
}

// Publisher writes row changes of any table as Debezium's MySQL connector
// would (relay.Publisher), and the simulator's stock changes
// (simulator.Publisher) the same way. A batch is handed to the producer at
// once, so it travels in as few requests as the partitions allow, and a
// publish returns when every message of it is acknowledged by all in-sync
// replicas.
//
// Order: the producer is idempotent with one request in flight per broker,
// so messages of one partition land in the order given even across
// retries; a row's messages share a key, hence a partition. A delete's
// tombstone directly follows it.
type Publisher struct {
	// producer is nil after a failed send: the next publish makes a new
	// one, so no state of the failed one (an idempotent sequence the
	// broker no longer accepts) outlives the failure.
	producer batchSender
	connect  func() (batchSender, error)
	// ensureTopic creates a topic when it is missing (the heartbeat topic,
	// before the first heartbeat).
	ensureTopic func(topic string) error
	// endOffsets reads the end offset of every partition of the topics
	// that exist.
	endOffsets func(topics []string) (relay.Offsets, error)
	// createTopics creates the change topics that are missing, calling
	// done for each that exists afterwards; nil when Config.CreateTopics
	// is not set.
	createTopics func(topics []string, done func(topic string)) error
	// topicsMu guards ensured: the change topics known to exist since the
	// last failed send (a topic deleted meanwhile is made again).
	topicsMu       sync.Mutex
	ensured        map[string]bool
	tableTopics    []string
	offsetsUnknown bool
	heartbeatTopic string // "" until it is known to exist
	prefix         string
	stockTable     *relay.Table // debezium.StockItems in Config.Database
	withSchema     bool
	now            func() time.Time
	metrics        *metrics
	tracer         trace.Tracer // nil: no spans of its own
	propagator     propagation.TextMapPropagator

	codecMu sync.Mutex
	codecs  map[*relay.Table]*tableCodec

	// mu keeps sends off a closed producer (sarama panics on that) and lets
	// Close wait for a send in flight.
	mu     sync.Mutex
	closed bool
}

type tableCodec struct {
	codec *debezium.RowCodec
	topic string
}

// New prepares an idempotent (retries must not reorder or duplicate a
// batch), acks=all producer: an event acknowledged by the leader alone can
// vanish on failover, and a consumer that missed it would serve the old row
// until the TTL. It connects on the first publish, so a broker that is down
// at start is retried by the caller like one that goes away later.
func New(cfg Config, opts ...Option) (*Publisher, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sc, err := cfg.saramaConfig(o.tune)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	connect := func() (batchSender, error) {
		producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
		if err != nil {
			return nil, fmt.Errorf("connect kafka producer to %v: %w", cfg.Brokers, err)
		}
		return producer, nil
	}
	p := newPublisher(nil, connect, cfg, o, m)
	// Without acknowledgements the producer learns no offsets, and a
	// position naming offset 0 would claim what it cannot know.
	p.offsetsUnknown = sc.Producer.RequiredAcks == sarama.NoResponse
	p.ensureTopic = func(topic string) error {
		client, err := sarama.NewClient(cfg.Brokers, sc)
		if err != nil {
			return fmt.Errorf("connect to %v: %w", cfg.Brokers, err)
		}
		defer client.Close()
		_, err = kafkatopic.Ensure(client, topic, nil)
		return err
	}
	p.endOffsets = func(topics []string) (relay.Offsets, error) {
		client, err := sarama.NewClient(cfg.Brokers, sc)
		if err != nil {
			return nil, fmt.Errorf("connect to %v: %w", cfg.Brokers, err)
		}
		defer client.Close()
		return endOffsets(client, topics)
	}
	if cfg.CreateTopics != nil {
		spec := cfg.CreateTopics.spec()
		log := o.log
		p.createTopics = func(topics []string, done func(string)) error {
			client, err := sarama.NewClient(cfg.Brokers, sc)
			if err != nil {
				return fmt.Errorf("connect to %v: %w", cfg.Brokers, err)
			}
			defer client.Close()
			for _, t := range topics {
				if err := ensureChangeTopic(client, t, spec, log); err != nil {
					return err
				}
				done(t)
			}
			return nil
		}
	}
	return p, nil
}

// ensureChangeTopic creates topic as spec says when it is missing. An
// existing topic is left as it is, whoever made it; one that is not
// compacted is worth a warning, since read nodes cannot always start from
// it.
func ensureChangeTopic(client sarama.Client, topic string, spec kafkatopic.Spec, log *slog.Logger) error {
	created, err := kafkatopic.EnsureSpec(client, topic, spec)
	if err != nil {
		return fmt.Errorf("change topic: %w", err)
	}
	if created {
		log.Info("created the change topic", "topic", topic, "partitions", spec.Partitions, "replication", spec.Replication,
			"cleanup_policy", *spec.Configs["cleanup.policy"], "delete_retention_ms", *spec.Configs["delete.retention.ms"])
		return nil
	}
	policy, err := kafkatopic.CleanupPolicy(client, topic)
	if err != nil {
		// Only the warning below depends on it: publishing goes on.
		log.Warn("the change topic's cleanup.policy could not be read; it is left as it is", "topic", topic, "err", err)
		return nil
	}
	if !kafkatopic.Compacted(policy) {
		log.Warn("the change topic exists and is not compacted; it is left as it is: once retention deletes its first records, a read node bootstrapping from it (--cache-bootstrap=topic) falls back to the database; set cleanup.policy=compact on it",
			"topic", topic, "cleanup_policy", policy)
	}
	return nil
}

// endOffsets reads the high-water mark of every partition of the topics
// that exist; nothing was ever published to one that does not.
func endOffsets(client sarama.Client, topics []string) (relay.Offsets, error) {
	out := relay.Offsets{}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		for _, part := range parts {
			end, err := client.GetOffset(t, part, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", t, part, err)
			}
			out[relay.TopicPartition{Topic: t, Partition: part}] = end
		}
	}
	return out, nil
}

func newPublisher(producer batchSender, connect func() (batchSender, error), cfg Config, o options, m *metrics) *Publisher {
	stock := debezium.StockItems
	stock.DB = cfg.Database
	p := &Publisher{
		producer: producer, connect: connect, prefix: cfg.TopicPrefix, stockTable: &stock,
		withSchema: cfg.WithSchema, now: o.now, metrics: m, propagator: o.propagator,
		codecs: map[*relay.Table]*tableCodec{},
	}
	for _, t := range cfg.Tables {
		p.tableTopics = append(p.tableTopics, ChangeTopic(cfg.TopicPrefix, cfg.Database, t))
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
	if c.TopicPrefix == "" {
		return errors.New("kafka producer: topic prefix is empty; it names the topics")
	}
	// Debezium refuses such a topic.prefix too; a database or table name
	// is mapped to '_' instead (ChangeTopic).
	if i := strings.IndexFunc(c.TopicPrefix, func(r rune) bool { return !isTopicChar(r) }); i >= 0 {
		return fmt.Errorf("kafka producer: topic prefix %q holds %q; topics allow only ASCII letters, digits, '.', '_' and '-'", c.TopicPrefix, c.TopicPrefix[i:i+1])
	}
	if c.CreateTopics != nil {
		return c.CreateTopics.check()
	}
	return nil
}

func (c Config) saramaConfig(tune func(*sarama.Config)) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	if c.Version != "" {
		v, err := sarama.ParseKafkaVersion(c.Version)
		if err != nil {
			return nil, fmt.Errorf("kafka producer: version %q: %w", c.Version, err)
		}
		sc.Version = v
	}
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("kafka producer: version %s is too old, idempotence and record headers need 0.11.0 or later", sc.Version)
	}
	sc.ClientID = c.ClientID
	if sc.ClientID == "" {
		sc.ClientID = defaultClientID
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = NewPartitioner
	// A topic is never created by a metadata request (the producer's look
	// up of a topic it writes, EndOffsets): with the broker's
	// auto.create.topics.enable it would get the broker's partition count
	// and cleanup.policy=delete. The relay creates its topics itself
	// (Config.CreateTopics).
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	if tune != nil {
		tune(sc)
	}
	if sc.Producer.Retry.Max < 1 {
		sc.Producer.Retry.Max = 1
	}
	// Without both a SyncProducer cannot tell when a send ends.
	sc.Producer.Return.Successes, sc.Producer.Return.Errors = true, true
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka producer config: %w", err)
	}
	return sc, nil
}

// Publish implements relay.Publisher. An event the encoder cannot write is
// a relay.Permanent error: sending it again would fail the same way.
func (p *Publisher) Publish(ctx context.Context, changes []*relay.Change) (_ relay.Offsets, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	msgs := make([]*sarama.ProducerMessage, 0, len(changes)+len(changes)/4)
	processed := p.now()
	for _, c := range changes {
		var err error
		if msgs, err = p.appendMessages(msgs, c, processed); err != nil {
			return nil, relay.Permanent(relay.StopUnsupported, err)
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	if p.tracer != nil {
		var span trace.Span
		ctx, span = p.tracer.Start(ctx, msgs[0].Topic+" publish",
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.destination.name", msgs[0].Topic),
				attribute.String("messaging.operation.type", "send"),
				attribute.Int("messaging.batch.message_count", len(msgs)),
			))
		defer func() {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
	}
	if headers := p.traceHeaders(ctx); len(headers) > 0 {
		for _, m := range msgs {
			m.Headers = headers
		}
	}
	if err := p.ensureTopics(msgs); err != nil {
		return nil, err
	}
	if err := p.send(msgs); err != nil {
		return nil, err
	}
	return written(msgs), nil
}

// written is, per partition, the offset after the last of msgs: the
// producer sets each acknowledged message's partition and offset.
func written(msgs []*sarama.ProducerMessage) relay.Offsets {
	out := make(relay.Offsets, 2)
	for _, m := range msgs {
		tp := relay.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		out[tp] = max(out[tp], m.Offset+1)
	}
	return out
}

// PublishStock implements simulator.Publisher: one stock_items change of
// Config.Database, stamped with the current time, as the relay would write
// the same change read from the binlog. before and after are given
// by the op (c and r: after only, u: both, d: before only, t: neither);
// updatedAtMicros is the rows' updated_at.
func (p *Publisher) PublishStock(ctx context.Context, op domain.Op, before, after *domain.StockRow, updatedAtMicros int64) error {
	c := &relay.Change{Table: p.stockTable, Op: op, Time: p.now()}
	var err error
	if before != nil {
		c.Before, err = debezium.StockImage(before, updatedAtMicros)
	}
	if after != nil && err == nil {
		c.After, err = debezium.StockImage(after, updatedAtMicros)
	}
	if err == nil {
		_, err = p.Publish(ctx, []*relay.Change{c})
	}
	if err != nil {
		return fmt.Errorf("publish stock_items %s event: %w", op, err)
	}
	return nil
}

// Heartbeat implements relay.Publisher: a heartbeat as Debezium writes it,
// to __debezium-heartbeat.<prefix>, created first when missing, with the
// relay's progress as debezium.PositionMember when there is one.
func (p *Publisher) Heartbeat(ctx context.Context, at time.Time, prog *relay.Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.heartbeatTopic == "" {
		topic := debezium.HeartbeatTopic(p.prefix)
		if p.ensureTopic != nil {
			if err := p.ensureTopic(topic); err != nil {
				return fmt.Errorf("heartbeat topic: %w", err)
			}
		}
		p.heartbeatTopic = topic
	}
	key, value := debezium.EncodePositionHeartbeat(p.prefix, at.UnixMilli(), p.withSchema, heartbeatPosition(prog))
	return p.send([]*sarama.ProducerMessage{{Topic: p.heartbeatTopic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(value)}})
}

func heartbeatPosition(prog *relay.Progress) *debezium.HeartbeatPosition {
	if prog == nil {
		return nil
	}
	pos := &debezium.HeartbeatPosition{GTID: prog.GTID, Offsets: make([]debezium.PartitionOffset, 0, len(prog.Offsets))}
	for tp, off := range prog.Offsets {
		pos.Offsets = append(pos.Offsets, debezium.PartitionOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: off})
	}
	return pos
}

// Prepare implements relay.Publisher: with Config.CreateTopics it creates
// the captured tables' topics that are missing, so that a table without
// rows has its topic too (read nodes wait for every table's topic).
func (p *Publisher) Prepare(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.ensureTopics(nil); err != nil {
		return fmt.Errorf("prepare the change topics: %w", err)
	}
	return nil
}

// EndOffsets implements relay.Publisher for the topics of Config.Tables.
func (p *Publisher) EndOffsets(ctx context.Context) (relay.Offsets, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.endOffsets == nil || p.offsetsUnknown {
		return nil, errors.New("end offsets: unknown to a producer without a broker, or without acknowledgements")
	}
	// The topics are created first: a partition created after this read
	// would be missing from every position until the relay writes to it.
	if err := p.ensureTopics(nil); err != nil {
		return nil, fmt.Errorf("end offsets of the change topics: %w", err)
	}
	ends, err := p.endOffsets(p.tableTopics)
	if err != nil {
		return nil, fmt.Errorf("end offsets of the change topics: %w", err)
	}
	return ends, nil
}

// send hands msgs to the producer, connecting it first if needed, and
// returns once Kafka acknowledged all of them.
func (p *Publisher) send(msgs []*sarama.ProducerMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.producer == nil {
		producer, err := p.connect()
		if err != nil {
			return err
		}
		p.producer = producer
	}
	err := p.producer.SendMessages(msgs)
	p.record(msgs, err)
	if err != nil {
		_ = p.producer.Close()
		p.producer = nil
		p.forgetTopics()
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			// sarama's own text only counts them.
			return fmt.Errorf("send %d messages: %d not acknowledged, the first to %s: %v: %w", len(msgs), len(perrs), perrs[0].Msg.Topic, perrs[0].Err, err)
		}
		return fmt.Errorf("send %d messages: %w", len(msgs), err)
	}
	return nil
}

// ensureTopics creates, when Config.CreateTopics asks for it, the topics of
// msgs and of the captured tables that are not known to exist yet.
func (p *Publisher) ensureTopics(msgs []*sarama.ProducerMessage) error {
	if p.createTopics == nil {
		return nil
	}
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	var missing []string
	add := func(t string) {
		if !p.ensured[t] && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	for _, t := range p.tableTopics {
		add(t)
	}
	for _, m := range msgs {
		add(m.Topic)
	}
	if len(missing) == 0 {
		return nil
	}
	if p.ensured == nil {
		p.ensured = map[string]bool{}
	}
	return p.createTopics(missing, func(t string) { p.ensured[t] = true })
}

// forgetTopics makes the next publish look the change topics up again: a
// send failed, maybe because one was deleted, and the producer (which does
// not create topics) would fail on it until it is made again.
func (p *Publisher) forgetTopics() {
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	clear(p.ensured)
}

// appendMessages adds the event of c and, after a delete, its tombstone.
func (p *Publisher) appendMessages(msgs []*sarama.ProducerMessage, c *relay.Change, processed time.Time) ([]*sarama.ProducerMessage, error) {
	tc, err := p.codecFor(c.Table)
	if err != nil {
		return nil, err
	}
	keyRow := c.After
	if c.Op == domain.OpDelete {
		keyRow = c.Before
	}
	src := debezium.Source{
		Version: SourceVersion, Connector: "mysql", Name: p.prefix, DB: c.Table.DB, Table: c.Table.Name,
		ServerID: int64(c.ServerID), File: c.At.File, Pos: int64(c.At.Pos), Row: c.RowInEvent,
		TsMs: c.Time.UnixMilli(), Snapshot: c.Snapshot, GTID: c.At.GTID, Thread: c.Thread,
	}
	if src.TsMs < 0 {
		src.TsMs = 0
	}
	var key []byte
	if keyRow != nil {
		if key, err = tc.codec.EncodeKey(src, keyRow, p.withSchema); err != nil {
			return nil, fmt.Errorf("%s change at %s: %w", tc.topic, c.At, err)
		}
	}
	value, err := tc.codec.EncodeEvent(c.Op, c.Before, c.After, src, processed, p.withSchema)
	if err != nil {
		return nil, fmt.Errorf("%s change at %s: %w", tc.topic, c.At, err)
	}
	msg := &sarama.ProducerMessage{Topic: tc.topic, Value: sarama.ByteEncoder(value)}
	if key != nil {
		msg.Key = sarama.ByteEncoder(key)
	}
	msgs = append(msgs, msg)
	if c.Op == domain.OpDelete && key != nil {
		// A nil Value is a null value: the tombstone compaction needs.
		msgs = append(msgs, &sarama.ProducerMessage{Topic: tc.topic, Key: sarama.ByteEncoder(key)})
	}
	return msgs, nil
}

// codecFor returns the encoder of a table shape, built on first use.
func (p *Publisher) codecFor(t *relay.Table) (*tableCodec, error) {
	p.codecMu.Lock()
	defer p.codecMu.Unlock()
	if tc, ok := p.codecs[t]; ok {
		return tc, nil
	}
	codec, err := debezium.NewRowCodec(t)
	if err != nil {
		return nil, err
	}
	// Shapes are replaced after DDL; the old ones are not needed again
	// once a newer shape of the same table shows up.
	for old := range p.codecs {
		if old.DB == t.DB && old.Name == t.Name {
			delete(p.codecs, old)
		}
	}
	tc := &tableCodec{codec: codec, topic: ChangeTopic(p.prefix, t.DB, t.Name)}
	p.codecs[t] = tc
	return tc, nil
}

// traceHeaders carries ctx's span into the records, so a consumer's spans
// join the writer's trace. A context without a span (the relay's) gets no
// headers from the propagator: those records stay what Debezium writes.
func (p *Publisher) traceHeaders(ctx context.Context) []sarama.RecordHeader {
	prop := p.propagator
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	var c headerCarrier
	prop.Inject(ctx, &c)
	return c.headers
}

// Close waits for a publish in flight and closes the producer. Publishing
// afterwards returns ErrClosed; closing again does nothing.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.producer == nil {
		return nil
	}
	if err := p.producer.Close(); err != nil {
		return fmt.Errorf("close kafka producer: %w", err)
	}
	return nil
}
