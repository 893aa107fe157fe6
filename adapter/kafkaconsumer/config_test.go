package kafkaconsumer

import (
	"os"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func validConfig() Config {
	return Config{
		Brokers:        []string{"127.0.0.1:9092"},
		Group:          "g",
		StockTopic:     "a.b.stock_items",
		WarehouseTopic: "a.b.warehouses",
	}
}

func TestTopicName(t *testing.T) {
	if got := TopicName("dbserver1", "inventory", "stock_items"); got != "dbserver1.inventory.stock_items" {
		t.Errorf("TopicName = %q", got)
	}
}

func TestValidateDefaults(t *testing.T) {
	c := validConfig()
	c.Group = ""
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	host, _ := os.Hostname()
	if c.Group != "gintoki-"+host {
		t.Errorf("Group = %q, want gintoki-<hostname>", c.Group)
	}
	if c.Version != DefaultVersion || c.ClientID != DefaultClientID {
		t.Errorf("Version=%q ClientID=%q, want defaults", c.Version, c.ClientID)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, "at least one host:port"},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, `broker "kafka": want host:port`},
		{"bad version", func(c *Config) { c.Version = "banana" }, `version "banana"`},
		{"version too old to never create topics", func(c *Config) { c.Version = "0.10.2.0" }, "at least 0.11.0"},
		{"no stock topic", func(c *Config) { c.StockTopic = "" }, "stock topic: required"},
		{"same topic twice", func(c *Config) { c.WarehouseTopic = c.StockTopic }, "must differ"},
		{"tls files without tls", func(c *Config) { c.TLS.CAFile = "ca.pem" }, "tls is not enabled"},
		{"cert without key", func(c *Config) { c.TLS = TLSConfig{Enable: true, CertFile: "c.pem"} }, "set both or neither"},
		{"unknown sasl mechanism", func(c *Config) { c.SASL = SASLConfig{Mechanism: "GSSAPI", User: "u", Password: "p"} }, `mechanism "GSSAPI"`},
		{"sasl without user", func(c *Config) { c.SASL = SASLConfig{Mechanism: "PLAIN", Password: "p"} }, "user is required"},
		{"sasl without password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u"} }, "password is required"},
		{"credentials without mechanism", func(c *Config) { c.SASL = SASLConfig{User: "u"} }, "no mechanism"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{}
	err := c.Validate()
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, want := range []string{"brokers", "stock topic"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// A schema without a warehouses table has no warehouse topic: only the
// stock topic is read.
func TestNoWarehouseTopicReadsTheStockTopicAlone(t *testing.T) {
	c := validConfig()
	c.WarehouseTopic = ""
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := c.tableTopics(); len(got) != 1 || got[0] != c.StockTopic {
		t.Fatalf("table topics %v, want the stock topic alone", got)
	}
}

func TestSaramaConfig(t *testing.T) {
	c := validConfig()
	c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sc, err := c.saramaConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Setup places every partition the process has not owned; the default
	// is for a lost or invalid commit: after that gap, all the broker has.
	if sc.Consumer.Offsets.Initial != sarama.OffsetOldest || !sc.Consumer.Offsets.AutoCommit.Enable || !sc.Consumer.Return.Errors {
		t.Error("lost offsets must restart oldest; offsets auto-commit; errors are returned")
	}
	if sc.Net.ReadTimeout <= sc.Consumer.Group.Rebalance.Timeout {
		t.Errorf("read timeout %v must exceed the rebalance timeout %v", sc.Net.ReadTimeout, sc.Consumer.Group.Rebalance.Timeout)
	}
	if sc.Metadata.AllowAutoTopicCreation {
		t.Error("the consumer must not create topics")
	}
	if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA512 || sc.Net.SASL.SCRAMClientGeneratorFunc == nil {
		t.Error("SCRAM-SHA-512 not wired")
	}
}
