package relaymod

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

func TestTopicFlagsDefaultsAndEnvironment(t *testing.T) {
	c, err := parse(minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicPartitions != 3 || c.TopicReplication != -1 {
		t.Errorf("defaults: %d partitions, replication %d; want 3 and -1", c.TopicPartitions, c.TopicReplication)
	}
	c, err = parse(minimal, map[string]string{"GINTOKI_RELAY_TOPIC_PARTITIONS": "12", "GINTOKI_RELAY_TOPIC_REPLICATION": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicPartitions != 12 || c.TopicReplication != 3 {
		t.Errorf("from the environment: %d partitions, replication %d; want 12 and 3", c.TopicPartitions, c.TopicReplication)
	}
	c, err = parse(append(slices.Clip(minimal), "--relay-topic-partitions", "1", "--relay-topic-replication", "2"), map[string]string{"GINTOKI_RELAY_TOPIC_PARTITIONS": "12"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicPartitions != 1 || c.TopicReplication != 2 {
		t.Errorf("flags over the environment: %d partitions, replication %d; want 1 and 2", c.TopicPartitions, c.TopicReplication)
	}
}

func TestTopicFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		flag, value, want string
	}{
		{"--relay-topic-partitions", "0", "--relay-topic-partitions must be within 1..10000, got 0"},
		{"--relay-topic-partitions", "-1", "--relay-topic-partitions must be within 1..10000, got -1"},
		{"--relay-topic-partitions", "10001", "--relay-topic-partitions must be within 1..10000, got 10001"},
		{"--relay-topic-partitions", "three", "relay-topic-partitions"},
		{"--relay-topic-replication", "0", "--relay-topic-replication must be -1 (the broker's default) or within 1..32767, got 0"},
		{"--relay-topic-replication", "-2", "--relay-topic-replication must be -1 (the broker's default) or within 1..32767, got -2"},
		{"--relay-topic-replication", "40000", "--relay-topic-replication must be -1 (the broker's default) or within 1..32767, got 40000"},
	} {
		_, err := parse(append(slices.Clip(minimal), tc.flag, tc.value), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v; want an error saying %q", tc.flag, tc.value, err, tc.want)
		}
	}
}

// startRelayLogged is startRelay with the relay's log kept in log.
func startRelayLogged(t *testing.T, cfg Config, log *logtest.Buffer) {
	t.Helper()
	r, cleanup, err := newRelay(cfg, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := r.Run(ctx)
		cleanup()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	waitFor(t, "relay streaming", func() bool { return r.Ready() == nil }, done)
}

func describeTopic(t *testing.T, brokers []string, topic string) kafkatest.Topic {
	t.Helper()
	got, err := kafkatest.DescribeTopic(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The relay creates its table topics compacted, with a day of tombstone
// retention and the partitions asked for, before the first change of a
// table (these tables are empty): read nodes can start from them. The
// broker would auto-create them with 5 partitions and cleanup.policy=delete
// on a request that let it; none does.
func TestRelayCreatesCompactedTableTopics(t *testing.T) {
	dsn, gdb := dbtest.MySQLDSN(t)
	broker, err := kafkabroker.Start(kafkabroker.AutoCreateTopics(), kafkabroker.Partitions(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	cfg := testConfig(dsn, brokers)
	cfg.TopicPartitions, cfg.TopicReplication = 4, -1
	log := &logtest.Buffer{}
	startRelayLogged(t, cfg, log)

	for _, table := range []string{"stock_items", "warehouses"} {
		topic := kafkaproducer.ChangeTopic(testPrefix, dsn.Database, table)
		got := describeTopic(t, brokers, topic)
		if got.Partitions != 4 || got.Configs["cleanup.policy"] != "compact" || got.Configs["delete.retention.ms"] != "86400000" {
			t.Errorf("%s: %d partitions, %v; want 4, cleanup.policy=compact, delete.retention.ms=86400000", topic, got.Partitions, got.Configs)
		}
		if len(log.Matching("level=INFO", "created the change topic", "topic="+topic)) != 1 {
			t.Errorf("creation of %s not logged: %v", topic, log.Lines())
		}
	}
	if warns := log.Matching("level=WARN"); len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}

	// Changes go to the topics it made.
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO warehouses VALUES (1,'WH-A','a',1,1,NOW(6))"); err != nil {
		t.Fatal(err)
	}
	readTopic(t, brokers, kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "warehouses"), 1)
}

// A table topic that exists (an operator's, a broker's auto-created one) is
// left as it is; when it is not compacted the relay says so, naming it,
// its policy and what that means for read nodes.
func TestRelayWarnsOfAnExistingTopicNotCompacted(t *testing.T) {
	dsn, _ := dbtest.MySQLDSN(t)
	stock := kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "stock_items")
	wh := kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "warehouses")
	broker, err := kafkabroker.Start(kafkabroker.Topics(2, stock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	log := &logtest.Buffer{}
	startRelayLogged(t, testConfig(dsn, brokers), log)

	if got := describeTopic(t, brokers, stock); got.Partitions != 2 || got.Configs["cleanup.policy"] != "delete" {
		t.Errorf("%s is now %d partitions, %v; want it as it was: 2, delete", stock, got.Partitions, got.Configs)
	}
	warns := log.Matching("level=WARN", "not compacted", "falls back to the database", "--cache-bootstrap=topic", "topic="+stock, "cleanup_policy=delete")
	if len(warns) != 1 {
		t.Errorf("want one WARN naming %s and cleanup_policy=delete; log: %v", stock, log.Lines())
	}
	if got := describeTopic(t, brokers, wh); got.Configs["cleanup.policy"] != "compact" {
		t.Errorf("%s: %v; want it created compacted", wh, got.Configs)
	}
}
