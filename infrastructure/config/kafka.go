package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Kafka is the change feed's connection and naming.
type Kafka struct {
	Brokers      []string
	Group        string
	Version      string
	ClientID     string
	TopicPrefix  string
	Database     string
	MaxStaleness time.Duration
	// ControlTopic carries fleet-wide commands; "" derives it from the
	// prefix, "off" turns it off.
	ControlTopic string

	TLS                bool
	TLSCAFile          string
	TLSCertFile        string
	TLSKeyFile         string
	TLSInsecureSkipVer bool
	SASLMechanism      string
	SASLUser           string
	SASLPassword       string
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
	s.List(&k.Brokers, "kafka-brokers", "", "Kafka bootstrap brokers; empty runs without a change feed (cache on TTL alone)")
	s.String(&k.Version, "kafka-version", "2.8.0", "Kafka protocol version to speak")
	s.String(&k.ClientID, "kafka-client-id", "gintoki", "Kafka client id")
	s.String(&k.TopicPrefix, "cdc-topic-prefix", "gintoki", "Debezium topic.prefix: topics are <prefix>.<database>.stock_items and .warehouses")
	s.String(&k.Database, "cdc-database", "", "database name in the topic names (default: the database named in --db)")
	s.String(&k.ControlTopic, "cdc-control-topic", "", "topic of fleet-wide commands (gintoki flush); created when missing (default: __gintoki-control.<prefix>; off: none)")
	s.Bool(&k.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	s.String(&k.TLSCAFile, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates")
	s.String(&k.TLSCertFile, "kafka-tls-cert", "", "PEM client certificate (mutual TLS)")
	s.String(&k.TLSKeyFile, "kafka-tls-key", "", "PEM client key (mutual TLS)")
	s.Bool(&k.TLSInsecureSkipVer, "kafka-tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
	s.String(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)")
	s.String(&k.SASLUser, "kafka-sasl-user", "", "SASL user")
	s.String(&k.SASLPassword, "kafka-sasl-password", "", "SASL password (prefer the environment variable)")
	k.RegisterPolicy(s)
	s.Check(func() error {
		if k.TopicPrefix == "" {
			return fmt.Errorf("--cdc-topic-prefix must not be empty")
		}
		switch strings.ToUpper(k.SASLMechanism) {
		case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return fmt.Errorf("--kafka-sasl-mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", k.SASLMechanism)
		}
		return nil
	})
}

// RegisterPolicy adds only the consumer's own settings (group, staleness
// bound), for a process that brings its own broker (demo).
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
