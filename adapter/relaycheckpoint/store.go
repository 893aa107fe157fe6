// Package relaycheckpoint keeps the relay's binlog checkpoint in a
// compacted Kafka topic, the way Kafka Connect keeps Debezium's offsets.
//
// Why Kafka and not a table: the relay then needs no write privilege on
// the source database (a replication user with SELECT is enough), and the
// checkpoint lives on the cluster whose topics it describes. A checkpoint
// is only ever written after the events before it were acknowledged by
// that same cluster, so if the cluster is replaced or its topics wiped the
// checkpoint goes with them and the relay takes a new snapshot, instead of
// resuming past events the new topics never received.
//
// Each relay owns one key, {"relay":<topic prefix>,"db":<database>}; the
// topic is compacted so only the newest checkpoint per key is kept, and a
// load reads the key's partition from its start to its end.
package relaycheckpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/kafkatopic"

	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/usecase/relay"
)

// DefaultTopic is the checkpoint topic when none is configured.
const DefaultTopic = "gintoki-relay-offsets"

// Config says where the checkpoint lives.
type Config struct {
	Brokers []string
	// Version is the Kafka protocol version; empty means 2.8.0.
	Version  string
	ClientID string
	// Topic is the compacted checkpoint topic, created when missing;
	// empty means DefaultTopic.
	Topic string
	// Relay and Database make this relay's key: its topic prefix and the
	// captured database.
	Relay, Database string
	// Tune adjusts the sarama configuration (TLS, SASL, timeouts).
	Tune func(*sarama.Config)
}

// Store is a relay.CheckpointStore on Kafka. It connects on first use and
// again after a failure, so a broker that is down at start is retried by
// the relay rather than failing it.
type Store struct {
	cfg Config
	key []byte
	sc  *sarama.Config
	log *slog.Logger

	mu       sync.Mutex
	client   sarama.Client
	producer sarama.SyncProducer
}

// record is the stored value.
type record struct {
	File    string `json:"file"`
	Pos     uint64 `json:"pos"`
	GTID    string `json:"gtid,omitempty"`
	SavedAt int64  `json:"saved_at_ms"`
}

// New checks cfg; nothing connects until Load or Save.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("relay checkpoint: no Kafka brokers given")
	}
	if cfg.Relay == "" || cfg.Database == "" {
		return nil, errors.New("relay checkpoint: relay name and database are required; they make the key")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Version == "" {
		cfg.Version = "2.8.0"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "gintoki-relay-checkpoint"
	}
	if log == nil {
		log = slog.Default()
	}
	v, err := sarama.ParseKafkaVersion(cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("relay checkpoint: kafka version %q: %w", cfg.Version, err)
	}
	sc := sarama.NewConfig()
	sc.Version = v
	sc.ClientID = cfg.ClientID
	sc.Net.DialTimeout = 5 * time.Second
	sc.Net.ReadTimeout = 10 * time.Second
	sc.Net.WriteTimeout = 10 * time.Second
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = kafkaproducer.NewPartitioner
	sc.Producer.Retry.Max = 5
	sc.Consumer.Return.Errors = true
	if cfg.Tune != nil {
		cfg.Tune(sc)
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("relay checkpoint: kafka config: %w", err)
	}
	key, err := json.Marshal(struct {
		Relay string `json:"relay"`
		DB    string `json:"db"`
	}{cfg.Relay, cfg.Database})
	if err != nil {
		return nil, fmt.Errorf("relay checkpoint: key: %w", err)
	}
	return &Store{cfg: cfg, key: key, sc: sc, log: log}, nil
}

// Topic is the checkpoint topic.
func (s *Store) Topic() string { return s.cfg.Topic }

// Key is this relay's record key.
func (s *Store) Key() []byte { return append([]byte(nil), s.key...) }

// connect returns the client and producer, connecting (and creating the
// topic) when there are none.
func (s *Store) connect() (sarama.Client, sarama.SyncProducer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, s.producer, nil
	}
	client, err := sarama.NewClient(s.cfg.Brokers, s.sc)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to kafka %v: %w", s.cfg.Brokers, err)
	}
	if err := s.ensureTopic(client); err != nil {
		client.Close()
		return nil, nil, err
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("checkpoint producer: %w", err)
	}
	s.client, s.producer = client, producer
	return client, producer, nil
}

// reset drops the connection after a failure so the next call reconnects.
func (s *Store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Store) closeLocked() {
	if s.producer != nil {
		_ = s.producer.Close()
	}
	if s.client != nil {
		_ = s.client.Close()
	}
	s.client, s.producer = nil, nil
}

// ensureTopic creates the compacted topic when it is missing.
func (s *Store) ensureTopic(client sarama.Client) error {
	compact := "compact"
	created, err := kafkatopic.Ensure(client, s.cfg.Topic, map[string]*string{"cleanup.policy": &compact})
	if err != nil {
		return fmt.Errorf("checkpoint topic (set cleanup.policy=compact when you create it): %w", err)
	}
	if created {
		s.log.Info("created the relay checkpoint topic", "topic", s.cfg.Topic, "cleanup_policy", compact)
	}
	return nil
}

// Load implements relay.CheckpointStore: the newest record of this relay's
// key; a tombstone (null value) means none.
func (s *Store) Load(ctx context.Context) (relay.Checkpoint, bool, error) {
	client, _, err := s.connect()
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	cp, found, err := s.load(ctx, client)
	if err != nil {
		s.reset()
		return relay.Checkpoint{}, false, fmt.Errorf("load the relay checkpoint from %s: %w", s.cfg.Topic, err)
	}
	return cp, found, nil
}

func (s *Store) load(ctx context.Context, client sarama.Client) (relay.Checkpoint, bool, error) {
	parts, err := client.Partitions(s.cfg.Topic)
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	if len(parts) == 0 {
		return relay.Checkpoint{}, false, errors.New("topic has no partitions")
	}
	p := kafkaproducer.PartitionFor(s.key, int32(len(parts)))
	oldest, err := client.GetOffset(s.cfg.Topic, p, sarama.OffsetOldest)
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	newest, err := client.GetOffset(s.cfg.Topic, p, sarama.OffsetNewest)
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	if newest <= oldest {
		return relay.Checkpoint{}, false, nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(s.cfg.Topic, p, oldest)
	if err != nil {
		return relay.Checkpoint{}, false, err
	}
	defer pc.Close()
	var last []byte
	found := false
	for {
		select {
		case <-ctx.Done():
			return relay.Checkpoint{}, false, ctx.Err()
		case cerr := <-pc.Errors():
			return relay.Checkpoint{}, false, cerr
		case msg := <-pc.Messages():
			if string(msg.Key) == string(s.key) {
				last, found = msg.Value, len(msg.Value) > 0
			}
			if msg.Offset < newest-1 {
				continue
			}
			if !found {
				return relay.Checkpoint{}, false, nil
			}
			var r record
			if err := json.Unmarshal(last, &r); err != nil {
				return relay.Checkpoint{}, false, fmt.Errorf("checkpoint record %s is not readable: %w", last, err)
			}
			if r.File == "" {
				return relay.Checkpoint{}, false, fmt.Errorf("checkpoint record %s names no binlog file", last)
			}
			return relay.Checkpoint{
				Position: relay.Position{File: r.File, Pos: r.Pos, GTID: r.GTID},
				SavedAt:  time.UnixMilli(r.SavedAt),
			}, true, nil
		}
	}
}

// Save implements relay.CheckpointStore; it returns once the brokers
// acknowledged the record.
func (s *Store) Save(_ context.Context, cp relay.Checkpoint) error {
	value, err := json.Marshal(record{File: cp.Position.File, Pos: cp.Position.Pos, GTID: cp.Position.GTID, SavedAt: cp.SavedAt.UnixMilli()})
	if err != nil {
		return fmt.Errorf("save the relay checkpoint: %w", err)
	}
	return s.send(value)
}

// Delete writes a tombstone for this relay's key: the next start takes a
// snapshot (or, with --snapshot=never, starts at the binlog's end).
func (s *Store) Delete(_ context.Context) error { return s.send(nil) }

func (s *Store) send(value []byte) error {
	_, producer, err := s.connect()
	if err != nil {
		return err
	}
	msg := &sarama.ProducerMessage{Topic: s.cfg.Topic, Key: sarama.ByteEncoder(s.key)}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	if _, _, err := producer.SendMessage(msg); err != nil {
		s.reset()
		return fmt.Errorf("write the relay checkpoint to %s: %w", s.cfg.Topic, err)
	}
	return nil
}

// Close drops the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}
