// Package kafkabroker runs a Kafka-protocol broker inside the process (kfake
// from franz-go). The demo uses it so the change path runs with no outside
// services, and integration tests use it so sarama talks real Kafka protocol
// over TCP on 127.0.0.1.
package kafkabroker

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running in-process broker.
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string
}

type settings struct {
	port       int
	partitions int
	topics     []seedTopics
	dataDir    string
	autoCreate bool
}

type seedTopics struct {
	partitions int32
	names      []string
}

// Option changes how Start builds the broker.
type Option func(*settings)

// Port makes the broker listen on a fixed port instead of a random one, so a
// client can find it again after a restart.
func Port(port int) Option { return func(s *settings) { s.port = port } }

// Partitions sets how many partitions a topic gets when it is created without
// a count (auto-created, or seeded with a count of zero). The default is 1.
func Partitions(n int) Option { return func(s *settings) { s.partitions = n } }

// Topics creates the named topics at start with the given partition count.
func Topics(partitions int32, names ...string) Option {
	return func(s *settings) {
		s.topics = append(s.topics, seedTopics{partitions: partitions, names: names})
	}
}

// DataDir keeps the broker's logs and committed offsets in dir, so a broker
// started again on the same directory comes back with its data, like a real
// broker after a restart. Without it everything lives in memory.
func DataDir(dir string) Option { return func(s *settings) { s.dataDir = dir } }

// AutoCreateTopics lets a metadata request create a topic that does not
// exist, as Kafka's auto.create.topics.enable does. Off by default, because a
// consumer that creates the topic it waits for would hide a wrong topic name.
func AutoCreateTopics() Option { return func(s *settings) { s.autoCreate = true } }

// Start starts a single-broker cluster listening on 127.0.0.1.
func Start(opts ...Option) (*Broker, error) {
	s := settings{partitions: 1}
	for _, o := range opts {
		o(&s)
	}
	if s.port < 0 || s.port > 65535 {
		return nil, fmt.Errorf("start kafka broker: port %d out of range", s.port)
	}
	if s.partitions < 1 {
		return nil, fmt.Errorf("start kafka broker: partitions must be at least 1, got %d", s.partitions)
	}

	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(s.partitions)}
	if s.port != 0 {
		kopts = append(kopts, kfake.Ports(s.port))
	}
	for _, t := range s.topics {
		if len(t.names) > 0 {
			kopts = append(kopts, kfake.SeedTopics(t.partitions, t.names...))
		}
	}
	if s.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(s.dataDir))
	}
	if s.autoCreate {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka broker: %w", err)
	}
	return &Broker{cluster: c, addrs: c.ListenAddrs()}, nil
}

// Addrs returns the host:port addresses clients bootstrap from.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Close stops the broker; with DataDir its state is written out first.
// Calling it again does nothing.
func (b *Broker) Close() { b.cluster.Close() }

// CreateTopics creates topics through the Kafka admin API, as an operator
// would on a real cluster. A topic that already exists is left as it is.
func CreateTopics(brokers []string, partitions int32, names ...string) error {
	if partitions < 1 {
		return fmt.Errorf("create topics: partitions must be at least 1, got %d", partitions)
	}
	cfg := sarama.NewConfig()
	cfg.ClientID = "gintoki-admin"
	cfg.Version = sarama.V2_8_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("create topics: connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	for _, name := range names {
		detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}
		if err := admin.CreateTopic(name, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", name, err)
		}
	}
	return nil
}
