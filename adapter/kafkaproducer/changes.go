package kafkaproducer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/kafkatopic"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"
)

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

// batchSender is the part of sarama.SyncProducer ChangePublisher uses.
type batchSender interface {
	SendMessages(msgs []*sarama.ProducerMessage) error
	Close() error
}

// ChangePublisher writes the relay's row changes of any table as Debezium's
// MySQL connector would (relay.Publisher). A batch is handed to the
// producer at once, so it travels in as few requests as the partitions
// allow, and Publish returns when every message of it is acknowledged.
//
// Order: the producer is idempotent with one request in flight per broker,
// so messages of one partition land in the order given even across
// retries; a row's messages share a key, hence a partition. A delete's
// tombstone directly follows it.
type ChangePublisher struct {
	// producer is nil after a failed send: the next Publish makes a new
	// one, so no state of the failed one (an idempotent sequence the
	// broker no longer accepts) outlives the failure.
	producer batchSender
	connect  func() (batchSender, error)
	// ensureTopic creates a topic when it is missing (the heartbeat topic,
	// before the first heartbeat).
	ensureTopic    func(topic string) error
	heartbeatTopic string // "" until it is known to exist
	prefix         string
	withSchema     bool
	now            func() time.Time
	metrics        *metrics

	codecMu sync.Mutex
	codecs  map[*relay.Table]*tableCodec

	// mu keeps sends off a closed producer (sarama panics on that).
	mu     sync.Mutex
	closed bool
}

type tableCodec struct {
	codec *debezium.RowCodec
	topic string
}

// NewChangePublisher prepares an idempotent (Config.Idempotent is forced
// on: retries must not reorder or duplicate a batch), acks=all producer; it
// connects on the first Publish. Config.Database is not used: every change
// names its own.
func NewChangePublisher(cfg Config, opts ...Option) (*ChangePublisher, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka change publisher: no brokers given")
	}
	if cfg.TopicPrefix == "" {
		return nil, errors.New("kafka change publisher: topic prefix is empty; it names the topics")
	}
	cfg.Idempotent = true
	if cfg.ClientID == "" {
		cfg.ClientID = "gintoki-relay"
	}
	sc, m, err := producerSetup(cfg, o, "kafka change publisher")
	if err != nil {
		return nil, err
	}
	connect := func() (batchSender, error) {
		producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
		if err != nil {
			return nil, fmt.Errorf("connect kafka producer to %v: %w", cfg.Brokers, err)
		}
		return producer, nil
	}
	// Connecting waits for the first Publish, so a broker that is down at
	// start is retried by the relay like one that goes away later.
	p := newChangePublisher(nil, connect, cfg, o.now, m)
	p.ensureTopic = func(topic string) error {
		client, err := sarama.NewClient(cfg.Brokers, sc)
		if err != nil {
			return fmt.Errorf("connect to %v: %w", cfg.Brokers, err)
		}
		defer client.Close()
		_, err = kafkatopic.Ensure(client, topic, nil)
		return err
	}
	return p, nil
}

func newChangePublisher(producer batchSender, connect func() (batchSender, error), cfg Config, now func() time.Time, m *metrics) *ChangePublisher {
	if now == nil {
		now = time.Now
	}
	return &ChangePublisher{
		producer: producer, connect: connect, prefix: cfg.TopicPrefix, withSchema: cfg.WithSchema,
		now: now, metrics: m, codecs: map[*relay.Table]*tableCodec{},
	}
}

// Publish implements relay.Publisher. An event the encoder cannot write is
// a relay.Permanent error: sending it again would fail the same way.
func (p *ChangePublisher) Publish(ctx context.Context, changes []*relay.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msgs := make([]*sarama.ProducerMessage, 0, len(changes)+len(changes)/4)
	processed := p.now()
	for _, c := range changes {
		var err error
		if msgs, err = p.appendMessages(msgs, c, processed); err != nil {
			return relay.Permanent(err)
		}
	}
	return p.send(msgs)
}

// Heartbeat implements relay.Publisher: a heartbeat as Debezium writes it,
// to __debezium-heartbeat.<prefix>, created first when missing.
func (p *ChangePublisher) Heartbeat(ctx context.Context, at time.Time) error {
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
	key, value := debezium.EncodeHeartbeat(p.prefix, at.UnixMilli(), p.withSchema)
	return p.send([]*sarama.ProducerMessage{{Topic: p.heartbeatTopic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(value)}})
}

// send hands msgs to the producer, connecting it first if needed, and
// returns once Kafka acknowledged all of them.
func (p *ChangePublisher) send(msgs []*sarama.ProducerMessage) error {
	// Publish and Heartbeat calls come from one goroutine (the relay's);
	// the lock also keeps Close from closing the producer under a send.
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
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			// sarama's own text only counts them.
			return fmt.Errorf("send %d messages: %d not acknowledged, the first to %s: %v: %w", len(msgs), len(perrs), perrs[0].Msg.Topic, perrs[0].Err, err)
		}
		return fmt.Errorf("send %d messages: %w", len(msgs), err)
	}
	return nil
}

// appendMessages adds the event of c and, after a delete, its tombstone.
func (p *ChangePublisher) appendMessages(msgs []*sarama.ProducerMessage, c *relay.Change, processed time.Time) ([]*sarama.ProducerMessage, error) {
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
	key, err := tc.codec.EncodeKey(src, keyRow, p.withSchema)
	if err != nil {
		return nil, fmt.Errorf("%s change at %s: %w", tc.topic, c.At, err)
	}
	var before, after [][]byte
	if c.Before != nil && c.Op != domain.OpCreate && c.Op != domain.OpRead {
		before = c.Before
	}
	if c.Op != domain.OpDelete {
		after = c.After
	}
	value, err := tc.codec.EncodeEvent(c.Op, before, after, src, processed, p.withSchema)
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
func (p *ChangePublisher) codecFor(t *relay.Table) (*tableCodec, error) {
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

// record counts each message as published or failed.
func (p *ChangePublisher) record(msgs []*sarama.ProducerMessage, err error) {
	if p.metrics == nil {
		return
	}
	failed := map[*sarama.ProducerMessage]bool{}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) {
		for _, pe := range perrs {
			failed[pe.Msg] = true
		}
	}
	for _, m := range msgs {
		if err != nil && (len(perrs) == 0 || failed[m]) {
			p.metrics.record(m.Topic, err)
			continue
		}
		p.metrics.record(m.Topic, nil)
	}
}

// Close waits for publishes in flight and closes the producer. Publishing
// afterwards returns ErrClosed; closing again does nothing.
func (p *ChangePublisher) Close() error {
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
