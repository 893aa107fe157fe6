package kafkaconsumer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
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
	// means 2.8.0. Consumer groups need at least 0.10.2.
	Version string
	// StockTopic and WarehouseTopic are the Debezium topics of the two
	// tables; see TopicName.
	StockTopic     string
	WarehouseTopic string
	// ControlTopic carries fleet-wide commands (see fleetcontrol); created
	// when missing; empty: none.
	ControlTopic string
	// ClientID names this client in broker logs and quotas; empty means "gintoki".
	ClientID string
	TLS      TLSConfig
	SASL     SASLConfig
}

// TLSConfig turns on TLS to the brokers.
type TLSConfig struct {
	Enable bool
	// CAFile is a PEM bundle of the CAs to trust instead of the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for
	// brokers that require mutual TLS. Both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any server certificate. Tests only.
	InsecureSkipVerify bool
}

// SASLConfig turns on SASL authentication.
type SASLConfig struct {
	// Mechanism is "" (no SASL), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string
	User      string
	Password  string
}

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
	} else if !v.IsAtLeast(sarama.V0_10_2_0) {
		errs = append(errs, fmt.Errorf("kafka version %q: consumer groups need at least 0.10.2", c.Version))
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.StockTopic == "" {
		errs = append(errs, errors.New("kafka stock topic: required"))
	}
	if c.WarehouseTopic == "" {
		errs = append(errs, errors.New("kafka warehouse topic: required"))
	}
	if c.StockTopic != "" && c.StockTopic == c.WarehouseTopic {
		errs = append(errs, fmt.Errorf("kafka topics: stock and warehouse topics are both %q; they must differ", c.StockTopic))
	}
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.SASL.validate()...)
	return errors.Join(errs...)
}

func (t TLSConfig) validate() []error {
	var errs []error
	if !t.Enable && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify) {
		errs = append(errs, errors.New("kafka tls: files or insecure-skip-verify are set but tls is not enabled"))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("kafka tls: cert file and key file go together; set both or neither"))
	}
	return errs
}

func (s SASLConfig) validate() []error {
	switch s.Mechanism {
	case "":
		if s.User != "" || s.Password != "" {
			return []error{errors.New("kafka sasl: user or password set but no mechanism; set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")}
		}
		return nil
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
	default:
		return []error{fmt.Errorf("kafka sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)}
	}
	var errs []error
	if s.User == "" {
		errs = append(errs, fmt.Errorf("kafka sasl %s: user is required", s.Mechanism))
	}
	if s.Password == "" {
		errs = append(errs, fmt.Errorf("kafka sasl %s: password is required", s.Mechanism))
	}
	return errs
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

// saramaConfig builds the client configuration; c must have passed Validate.
func (c Config) saramaConfig() (*sarama.Config, error) {
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
	// A consumer that creates the topic it waits for would hide a wrong name.
	sc.Metadata.AllowAutoTopicCreation = false

	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetNewest
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
	// An offset the broker no longer has restarts the claim at the newest
	// offset instead of failing it forever; the handler reports the gap.
	sc.Consumer.Group.ResetInvalidOffsets = true

	if c.TLS.Enable {
		tc, err := c.TLS.build()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.SASL.Mechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASL.Mechanism)
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		switch c.SASL.Mechanism {
		case sarama.SASLTypeSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(sha256Hash) }
		case sarama.SASLTypeSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(sha512Hash) }
		}
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client config: %w", err)
	}
	return sc, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca file %q: no PEM certificate found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// tableTopics lists the change feed's topics, stock first.
func (c Config) tableTopics() []string { return []string{c.StockTopic, c.WarehouseTopic} }

// redacted describes the config for logs without the password.
func (c Config) redacted() string {
	return fmt.Sprintf("brokers=%s group=%s version=%s topics=%s,%s tls=%t sasl=%s",
		strings.Join(c.Brokers, ","), c.Group, c.Version, c.StockTopic, c.WarehouseTopic, c.TLS.Enable, c.SASL.Mechanism)
}
