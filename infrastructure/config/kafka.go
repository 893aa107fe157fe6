package config

import (
	"fmt"
	"net"
	"os"
	"time"
)

// KafkaClient is how a process reaches Kafka: brokers, protocol version,
// client id, TLS and SASL. Every process that talks to Kafka (serve, relay,
// flush) registers it, so each flag means the same everywhere.
type KafkaClient struct {
	Brokers  []string
	Version  string
	ClientID string
	KafkaSecurity
}

// Register adds the flags; clientID is the process's default client id
// and brokersUsage says what the brokers are to it.
func (k *KafkaClient) Register(s *Set, clientID, brokersUsage string) {
	s.List(&k.Brokers, "kafka-brokers", "", brokersUsage)
	s.String(&k.Version, "kafka-version", "2.8.0", "Kafka protocol version to speak")
	s.String(&k.ClientID, "kafka-client-id", clientID, "Kafka client id")
	k.KafkaSecurity.Register(s)
	s.Check(func() error {
		for _, b := range k.Brokers {
			if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
				return fmt.Errorf("--kafka-brokers: %q is not host:port", b)
			}
		}
		return nil
	})
}

// Kafka is the change feed's connection and naming.
type Kafka struct {
	KafkaClient
	Group        string
	TopicPrefix  string
	Database     string
	MaxStaleness time.Duration
	// ControlTopic carries fleet-wide commands and HeartbeatTopic the
	// source's heartbeats; "" derives each from the prefix, "off" turns it
	// off.
	ControlTopic   string
	HeartbeatTopic string
	// SourceHeartbeats is what the source's heartbeats mean: "auto",
	// "required" or "off" (changefeed.HeartbeatPolicy).
	SourceHeartbeats string
}

// DefaultGroup is gintoki-<hostname>: stable per host, distinct across
// hosts, so every instance gets every event.
func DefaultGroup() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "gintoki-" + h
}

// Register adds the change-feed flags.
func (k *Kafka) Register(s *Set) {
	k.KafkaClient.Register(s, "gintoki", "Kafka bootstrap brokers; empty runs without a change feed (cache on TTL alone)")
	s.String(&k.TopicPrefix, "cdc-topic-prefix", "gintoki", "Debezium topic.prefix: topics are <prefix>.<database>.<table> of the stock and warehouse tables (stock_items and warehouses, or those --schema maps)")
	s.String(&k.Database, "cdc-database", "", "database name in the topic names (default: the database named in --db)")
	s.String(&k.ControlTopic, "cdc-control-topic", "", "topic of fleet-wide commands (gintoki flush); created when missing (default: __gintoki-control.<prefix>; off: none)")
	s.String(&k.HeartbeatTopic, "cdc-heartbeat-topic", "", "topic of the source's heartbeats, see --source-heartbeats (default: __debezium-heartbeat.<prefix>, as Debezium and gintoki relay name it; off: none)")
	s.String(&k.SourceHeartbeats, "source-heartbeats", "auto", "what the source's heartbeats mean: required (no heartbeat for --max-staleness, counted from the start, bypasses the cache like a lost broker; for a source that sends them: gintoki relay, Debezium with heartbeat.interval.ms), "+
		"auto (required from the first heartbeat read; warns once when none arrived within max(--max-staleness, 10s) of the feed going live), off (ignored: a stopped source goes unnoticed)")
	k.RegisterPolicy(s)
	s.Check(func() error {
		if k.TopicPrefix == "" {
			return fmt.Errorf("--cdc-topic-prefix must not be empty")
		}
		return k.checkHeartbeats()
	})
}

// checkHeartbeats accepts the three policies, and refuses to require
// heartbeats with no topic to read them from.
func (k *Kafka) checkHeartbeats() error {
	switch k.SourceHeartbeats {
	case "auto", "off":
		return nil
	case "required":
		if k.HeartbeatTopic == "off" {
			return fmt.Errorf("--source-heartbeats required needs a heartbeat topic, but --cdc-heartbeat-topic is off")
		}
		return nil
	}
	return fmt.Errorf("--source-heartbeats must be auto, required or off, got %q", k.SourceHeartbeats)
}

// RegisterPolicy adds only the consumer's own settings (group, staleness
// bound), for a process that brings its own broker and source (demo).
func (k *Kafka) RegisterPolicy(s *Set) {
	s.String(&k.Group, "kafka-group", DefaultGroup(), "consumer group; one per instance so every instance sees every event")
	s.Duration(&k.MaxStaleness, "max-staleness", 30*time.Second, "after this long without the broker, flush and bypass the cache until caught up again")
	s.Check(func() error {
		if k.MaxStaleness <= 0 {
			return fmt.Errorf("--max-staleness must be positive, got %s", k.MaxStaleness)
		}
		if k.Group == "" {
			return fmt.Errorf("--kafka-group must not be empty")
		}
		return nil
	})
}

// Enabled reports whether a change feed is configured.
func (k Kafka) Enabled() bool { return len(k.Brokers) > 0 }
