package relaymod

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/binlog"
	"github.com/gintoki/gintoki/adapter/kafkaauth"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/adapter/relaycheckpoint"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/usecase/relay"
)

// ProviderSet builds the relay: binlog source, Kafka publisher, checkpoint
// store, metrics and the pipeline joining them.
var ProviderSet = wire.NewSet(
	sourceConfig,
	newKafkaTuning,
	binlog.New,
	newSource,
	newPublisher,
	wire.Bind(new(relay.Publisher), new(*kafkaproducer.Publisher)),
	newStore,
	wire.Bind(new(relay.CheckpointStore), new(*relaycheckpoint.Store)),
	newMetrics,
	wire.Bind(new(relay.Metrics), new(*Metrics)),
	relayConfig,
	relay.New,
)

func sourceConfig(c Config, m *Metrics) (binlog.Config, error) {
	dsn, err := database.ParseDSN(c.DSN)
	if err != nil {
		return binlog.Config{}, fmt.Errorf("--db: %w", err)
	}
	return binlog.Config{
		DSN:             dsn.Raw,
		ServerID:        c.EffectiveServerID(),
		Tables:          c.Tables,
		Heartbeat:       c.Heartbeat,
		RowMetadataFull: m.RowMetadataFull,
	}, nil
}

// kafkaTuning is what the relay sets on each of its Kafka clients (the
// publisher and the checkpoint store): timeouts, TLS and SASL.
type kafkaTuning func(*sarama.Config)

// newKafkaTuning loads the TLS files once (a bad one fails the start) and
// warns of SASL PLAIN without TLS.
func newKafkaTuning(c Config, log *slog.Logger) (kafkaTuning, error) {
	secure, err := kafkaauth.FromSettings(c.KafkaSecurity).Setup(log)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return func(sc *sarama.Config) {
		kafkaTimeouts(sc)
		secure(sc)
	}, nil
}

// kafkaTimeouts keep a silent broker from holding a send for sarama's
// 30-second defaults: the relay reconnects with its own backoff instead.
func kafkaTimeouts(sc *sarama.Config) {
	sc.Net.DialTimeout = 5 * time.Second
	sc.Net.ReadTimeout = 10 * time.Second
	sc.Net.WriteTimeout = 10 * time.Second
	sc.Producer.Timeout = 10 * time.Second
	sc.Producer.Retry.Max = 5
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.Retry.Max = 3
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
}

// newPublisher makes the publisher, which creates the change topics it
// writes when they are missing: compacted, so that they hold every row for
// good and read nodes can start from them (--cache-bootstrap=topic).
func newPublisher(c Config, reg prometheus.Registerer, tune kafkaTuning, log *slog.Logger) (*kafkaproducer.Publisher, func(), error) {
	db, err := c.Database()
	if err != nil {
		return nil, nil, err
	}
	p, err := kafkaproducer.New(kafkaproducer.Config{
		Brokers: c.Brokers, Version: c.Version, ClientID: c.ClientID,
		TopicPrefix: c.TopicPrefix, Database: db, WithSchema: c.WithSchema, Tables: c.Tables,
		CreateTopics: &kafkaproducer.TopicCreation{
			Partitions: int32(c.TopicPartitions), Replication: int16(c.TopicReplication),
			DeleteRetention: kafkaproducer.DefaultDeleteRetention,
		},
	}, kafkaproducer.WithRegisterer(reg), kafkaproducer.WithSaramaConfig(tune), kafkaproducer.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	return p, func() { _ = p.Close() }, nil
}

func newStore(c Config, log *slog.Logger, tune kafkaTuning) (*relaycheckpoint.Store, func(), error) {
	db, err := c.Database()
	if err != nil {
		return nil, nil, err
	}
	s, err := relaycheckpoint.New(relaycheckpoint.Config{
		Brokers: c.Brokers, Version: c.Version, ClientID: c.ClientID + "-checkpoint",
		Topic: c.CheckpointTopic, Relay: c.TopicPrefix, Database: db, Tune: tune,
	}, log)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) { return NewMetrics(reg, nil) }

func relayConfig(c Config) (relay.Config, error) {
	mode, err := relay.ParseSnapshotMode(c.Snapshot)
	if err != nil {
		return relay.Config{}, fmt.Errorf("--snapshot: %w", err)
	}
	return relay.Config{
		Snapshot: mode, MaxBatch: c.MaxBatch, CheckpointEvery: c.CheckpointEvery,
		// Caught up: Kafka holds every change up to a binlog heartbeat ago
		// (an idle server sends one per --relay-heartbeat), with a margin
		// for the second-granular binlog timestamps.
		HeartbeatEvery: c.SourceHeartbeat, HeartbeatWithin: 2*c.Heartbeat + 2*time.Second,
		ProgressEvery: c.PositionInterval,
	}, nil
}
