package kafkaconsumer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/kafkaauth"
)

// Config says where the change feed is and how to reach it.
type Config struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string
	// Group is this instance's consumer group. Every instance must see every
	// event, so each uses its own group, stable across restarts of one host.
	// Empty means "gintoki-" + hostname.
	Group string
	// Version is the Kafka protocol version to speak (e.g. "2.8.0"); empty
	// means 2.8.0. At least 0.11.0: older metadata requests cannot say
	// "do not create", and a reader must never create a topic. Topic ids
	// (a topic deleted and created again told apart at once) need 2.8.0.
	Version string
	// StockTopic and WarehouseTopic are the Debezium topics of the two
	// tables; see TopicName. WarehouseTopic is empty when the schema has no
	// warehouses table (every warehouse active, its code its id).
	StockTopic     string
	WarehouseTopic string
	// Decoder reads the tables' events; nil: the project's own tables
	// (debezium.DecodeStockRecord and the like).
	Decoder *debezium.Decoder
	// Bootstrap: the first session reads the table topics from their
	// oldest offsets, to build the cache from them (see bootstrap.go).
	Bootstrap bool
	// ControlTopic carries fleet-wide commands (see fleetcontrol); created
	// when missing; empty: none.
	ControlTopic string
	// HeartbeatTopic is where the source sends heartbeats (Debezium's
	// __debezium-heartbeat.<prefix>); empty: none. Consumed once it exists:
	// the source creates it with its first heartbeat.
	HeartbeatTopic string
	// ClientID names this client in broker logs and quotas; empty means "gintoki".
	ClientID string
	TLS      TLSConfig
	SASL     SASLConfig
}

// TLSConfig and SASLConfig are the settings every Kafka client of gintoki
// shares (see kafkaauth).
type (
	TLSConfig  = kafkaauth.TLSConfig
	SASLConfig = kafkaauth.SASLConfig
)

// Defaults filled in by Validate.
const (
	DefaultVersion  = "2.8.0"
	DefaultClientID = "gintoki"
	groupPrefix     = "gintoki-"
)

// TopicName is the topic Debezium writes a table's changes to:
// <topic.prefix>.<database>.<table>.
func TopicName(prefix, database, table string) string {
	return prefix + "." + database + "." + table
}

// Validate fills in defaults and reports every problem of the configuration
// at once, each naming the setting it is about.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka brokers: at least one host:port is required"))
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("kafka broker %q: want host:port", b))
		}
	}
	if c.Group == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			errs = append(errs, fmt.Errorf("kafka group: empty and the hostname is unknown (%v); set it explicitly", err))
		} else {
			c.Group = groupPrefix + host
		}
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if v, err := sarama.ParseKafkaVersion(c.Version); err != nil {
		errs = append(errs, fmt.Errorf("kafka version %q: %w", c.Version, err))
	} else if !v.IsAtLeast(sarama.V0_11_0_0) {
		errs = append(errs, fmt.Errorf("kafka version %q: at least 0.11.0 is needed: an older metadata request creates "+
			"every missing topic it names on a broker with auto.create.topics.enable", c.Version))
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Decoder == nil {
		c.Decoder = debezium.DefaultDecoder()
	}
	if c.StockTopic == "" {
		errs = append(errs, errors.New("kafka stock topic: required"))
	}
	if c.StockTopic != "" && c.StockTopic == c.WarehouseTopic {
		errs = append(errs, fmt.Errorf("kafka topics: stock and warehouse topics are both %q; they must differ", c.StockTopic))
	}
	errs = append(errs, c.auth().Validate())
	return errors.Join(errs...)
}

// Timings of the sarama client. A closed connection is seen at once; these
// bound how long a silent broker can hold a request.
const (
	dialTimeout  = 3 * time.Second
	writeTimeout = 5 * time.Second
	// readTimeout stays above rebalanceTimeout: the coordinator may hold a
	// JoinGroup answer for a whole rebalance, and cutting it off would make
	// the join start over.
	readTimeout      = 10 * time.Second
	rebalanceTimeout = 8 * time.Second
	sessionTimeout   = 10 * time.Second
	heartbeat        = 3 * time.Second
	metadataRefresh  = 30 * time.Second
	commitInterval   = time.Second
)

func (c Config) auth() kafkaauth.Config { return kafkaauth.Config{TLS: c.TLS, SASL: c.SASL} }

// saramaConfig builds the client configuration; c must have passed Validate.
// log receives the TLS and SASL warnings; nil discards them.
func (c Config) saramaConfig(log *slog.Logger) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(c.Version)
	if err != nil {
		return nil, fmt.Errorf("kafka version %q: %w", c.Version, err)
	}
	sc.Version = v
	sc.ClientID = c.ClientID

	sc.Net.DialTimeout = dialTimeout
	sc.Net.ReadTimeout = readTimeout
	sc.Net.WriteTimeout = writeTimeout

	sc.Metadata.Retry.Max = 2
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.RefreshFrequency = metadataRefresh
	sc.Metadata.Full = false
	// Every request of this client (the group's, the end-offset polls,
	// the topic checks) only reads: a consumer that creates the topic it
	// waits for would hide a wrong name, and one that recreates a deleted
	// topic would give it the broker's default partition count before its
	// source does.
	sc.Metadata.AllowAutoTopicCreation = false

	sc.Consumer.Return.Errors = true
	// Only a partition this process owned before reaches this default (Setup
	// moves every other one): its committed offset was lost (an empty or
	// replaced broker) or is out of range (retention deleted what was to be
	// read). That is a gap, reported by the handler; the tracker flushes and
	// the claim goes on with all the broker still has.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = commitInterval
	sc.Consumer.Group.Session.Timeout = sessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = heartbeat
	sc.Consumer.Group.Rebalance.Timeout = rebalanceTimeout
	// Eager strategies: every rebalance is a new session, which is when the
	// change-feed tracker learns the assignment again.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{
		sarama.NewBalanceStrategyRange(), sarama.NewBalanceStrategyRoundRobin(),
	}
	// An offset the broker no longer has restarts the claim at
	// Offsets.Initial instead of failing it forever; the handler reports the
	// gap.
	sc.Consumer.Group.ResetInvalidOffsets = true

	secure, err := c.auth().Setup(log)
	if err != nil {
		return nil, err
	}
	secure(sc)
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client config: %w", err)
	}
	return sc, nil
}

// tableTopics lists the change feed's topics, stock first.
func (c Config) tableTopics() []string {
	if c.WarehouseTopic == "" {
		return []string{c.StockTopic}
	}
	return []string{c.StockTopic, c.WarehouseTopic}
}

// redacted describes the config for logs without the password.
func (c Config) redacted() string {
	return fmt.Sprintf("brokers=%s group=%s version=%s topics=%s,%s %s",
		strings.Join(c.Brokers, ","), c.Group, c.Version, c.StockTopic, c.WarehouseTopic, c.auth())
}
