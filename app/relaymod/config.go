package relaymod

import (
	"fmt"
	"hash/crc32"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gintoki/gintoki/adapter/relaycheckpoint"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Config is the relay's settings.
type Config struct {
	// DSN is --db: mysql://<go-sql-driver DSN> of a replication user.
	DSN string
	// ServerID is --server-id; 0 derives one from the host and database.
	ServerID int
	// Tables are --relay-tables, by default the tables of Schema.
	Tables []string
	// Schema is --schema: the shop's tables the read nodes are built from.
	// Given, the relay captures its tables and checks it against the
	// database at start, as serve does.
	Schema config.Schema
	// TopicPrefix and the Kafka client are named as serve's flags, so one
	// environment configures both.
	TopicPrefix string
	config.KafkaClient
	WithSchema      bool
	Snapshot        string
	CheckpointTopic string
	CheckpointEvery time.Duration
	// TopicPartitions and TopicReplication are how a missing change topic
	// is created (compacted); -1 replication is the broker's default.
	TopicPartitions  int
	TopicReplication int
	MaxBatch         int
	Heartbeat        time.Duration
	// SourceHeartbeat is how often Debezium-format heartbeats go to Kafka.
	SourceHeartbeat time.Duration
	// PositionInterval is the least time between two heartbeats sent
	// because a transaction ended, saying how far the relay has published.
	PositionInterval time.Duration
	MetricsAddr      string
}

// Defaults of the flags.
const (
	// DefaultMetricsAddr is loopback: the relay's metrics say which tables
	// change and how fast. A scraper on another host needs it set to
	// :9404 (or an interface of a private network) on purpose.
	DefaultMetricsAddr = "127.0.0.1:9404"
	serverIDBase       = 5400
	serverIDSpan       = 1000
	// DefaultTopicPartitions spreads a table's changes over three
	// consumers' worth of partitions, as the compose file's topics have.
	DefaultTopicPartitions = 3
	// maxTopicPartitions bounds --relay-topic-partitions far above any
	// sensible count; a typo of a few more digits is refused, not created.
	maxTopicPartitions = 10000
)

// Register adds the relay's flags.
func (c *Config) Register(s *config.Set) {
	s.Secret(&c.DSN, "db", "", "source database: mysql://user:pass@tcp(host:3306)/db; the user needs REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR (MariaDB) and SELECT on the tables; a password here is visible in ps: use --db-password-file")
	s.Int(&c.ServerID, "server-id", 0, fmt.Sprintf("replication server id of the relay, unique among the server's replicas (0: %d + a number derived from the host name and database, below %d)", serverIDBase, serverIDBase+serverIDSpan))
	c.Schema.Register(s)
	s.List(&c.Tables, "relay-tables", "", "tables of the --db database to capture (empty: the tables of --schema, or stock_items,warehouses without it); with --schema they must include its tables")
	s.String(&c.TopicPrefix, "cdc-topic-prefix", "gintoki", "Debezium topic.prefix: events go to <prefix>.<database>.<table>; source.name")
	c.KafkaClient.Register(s, "gintoki-relay", "Kafka bootstrap brokers (host:port)")
	s.Bool(&c.WithSchema, "cdc-with-schema", false, "write the JsonConverter schema/payload wrapper (schemas.enable=true) around keys and values")
	s.String(&c.Snapshot, "snapshot", string(relay.SnapshotInitial), "initial: publish existing rows as op r when there is no checkpoint; never: start at the binlog's end; when_needed: also re-snapshot when the checkpoint's binlog is purged")
	s.String(&c.CheckpointTopic, "relay-checkpoint-topic", relaycheckpoint.DefaultTopic, "compacted Kafka topic holding the binlog position (created when missing)")
	s.Int(&c.TopicPartitions, "relay-topic-partitions", DefaultTopicPartitions, "partitions of a change topic the relay creates (it creates <prefix>.<database>.<table> when missing, with cleanup.policy=compact and delete.retention.ms=86400000; an existing topic is left as it is)")
	s.Int(&c.TopicReplication, "relay-topic-replication", -1, "replication factor of a change topic the relay creates (-1: the broker's default.replication.factor)")
	s.Duration(&c.CheckpointEvery, "relay-checkpoint-interval", time.Second, "how often the acknowledged binlog position is saved; a crash re-sends at most this much")
	s.Int(&c.MaxBatch, "relay-max-batch", relay.DefaultMaxBatch, "most changes handed to Kafka in one batch")
	s.Duration(&c.Heartbeat, "relay-heartbeat", 5*time.Second, "binlog heartbeat period asked of the server; three missed heartbeats count as a lost connection")
	s.Duration(&c.SourceHeartbeat, "heartbeat-interval", time.Second, "how often a Debezium-format heartbeat goes to __debezium-heartbeat.<prefix>, only while the relay streams the binlog and is caught up, so read nodes notice a stopped or stuck relay (0: off)")
	s.Duration(&c.PositionInterval, "position-interval", 20*time.Millisecond, "least time between two heartbeats sent, once Kafka has a transaction's changes, to say how far the relay has published (GTID position and offsets), so read nodes can answer X-Read-After-GTID reads from their cache; shorter proves a write applied sooner, for up to one record per interval on the heartbeat topic (0: positions only on --heartbeat-interval)")
	s.String(&c.MetricsAddr, "metrics-addr", DefaultMetricsAddr, "listen address of /metrics, /healthz and /readyz (empty: off); loopback by default, set :9404 for a scraper on another host")
	s.Check(c.check)
	config.RegisterDBPasswordFile(s, &c.DSN)
}

func (c *Config) check() error {
	if strings.TrimSpace(c.DSN) == "" {
		return fmt.Errorf("--db is required: mysql://user:pass@tcp(host:3306)/db")
	}
	dsn, err := database.ParseDSN(c.DSN)
	if err != nil {
		return fmt.Errorf("--db: %v", err)
	}
	if dsn.Driver != database.DriverMySQL {
		return fmt.Errorf("--db: the relay reads a MySQL/MariaDB binlog; got a %s DSN", dsn.Driver)
	}
	if c.ServerID < 0 || c.ServerID > 1<<32-1 {
		return fmt.Errorf("--server-id must be within 1..%d, got %d", uint32(1<<32-1), c.ServerID)
	}
	if err := c.checkTables(); err != nil {
		return err
	}
	if c.TopicPrefix == "" {
		return fmt.Errorf("--cdc-topic-prefix must not be empty")
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("--kafka-brokers is required")
	}
	if _, err := relay.ParseSnapshotMode(c.Snapshot); err != nil {
		return fmt.Errorf("--snapshot: %v", err)
	}
	if c.CheckpointTopic == "" {
		return fmt.Errorf("--relay-checkpoint-topic must not be empty")
	}
	if c.TopicPartitions < 1 || c.TopicPartitions > maxTopicPartitions {
		return fmt.Errorf("--relay-topic-partitions must be within 1..%d, got %d", maxTopicPartitions, c.TopicPartitions)
	}
	if c.TopicReplication == 0 || c.TopicReplication < -1 || c.TopicReplication > math.MaxInt16 {
		return fmt.Errorf("--relay-topic-replication must be -1 (the broker's default) or within 1..%d, got %d", math.MaxInt16, c.TopicReplication)
	}
	if c.CheckpointEvery <= 0 || c.Heartbeat <= 0 {
		return fmt.Errorf("--relay-checkpoint-interval and --relay-heartbeat must be positive")
	}
	if c.SourceHeartbeat < 0 {
		return fmt.Errorf("--heartbeat-interval must not be negative (0 turns heartbeats off)")
	}
	if c.PositionInterval < 0 {
		return fmt.Errorf("--position-interval must not be negative (0 sends positions only on --heartbeat-interval)")
	}
	if c.MaxBatch < 1 {
		return fmt.Errorf("--relay-max-batch must be at least 1, got %d", c.MaxBatch)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q is not host:port", c.MetricsAddr)
		}
	}
	return nil
}

// checkTables defaults --relay-tables to the mapping's tables, and refuses
// a list that leaves one of them out: the read nodes would never hear of
// its changes.
func (c *Config) checkTables() error {
	// The mapping is loaded by now: Register registers its check first.
	mapped := c.Schema.Mapping.Tables()
	if len(c.Tables) == 0 {
		c.Tables = mapped
	}
	for _, t := range c.Tables {
		if strings.ContainsAny(t, ".` ") {
			return fmt.Errorf("--relay-tables: %q: give bare table names of the --db database", t)
		}
	}
	if !c.Schema.Mapped() {
		return nil
	}
	var missing []string
	for _, t := range mapped {
		if !slices.Contains(c.Tables, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--relay-tables %s leaves out %s of the --schema mapping %s, whose changes the read nodes need: add %s, or leave --relay-tables unset to capture the mapping's tables",
			strings.Join(c.Tables, ","), strings.Join(missing, " and "), c.Schema.File, strings.Join(missing, " and "))
	}
	return nil
}

// Database is the database named in --db.
func (c Config) Database() (string, error) {
	dsn, err := database.ParseDSN(c.DSN)
	if err != nil {
		return "", fmt.Errorf("--db: %w", err)
	}
	return dsn.Database, nil
}

// EffectiveServerID is --server-id, or when 0 one derived from the host
// name and database: stable across restarts of one relay, and unlikely to
// collide with another relay's (two replicas with one id make the server
// drop the older connection, and the relays would take turns).
func (c Config) EffectiveServerID() uint32 {
	if c.ServerID > 0 {
		return uint32(c.ServerID)
	}
	host, _ := os.Hostname()
	db, _ := c.Database()
	return serverIDBase + crc32.ChecksumIEEE([]byte(host+"/"+db))%serverIDSpan
}
