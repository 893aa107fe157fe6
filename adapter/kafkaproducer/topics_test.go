package kafkaproducer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
	"github.com/gintoki/gintoki/infrastructure/polltest"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"github.com/gintoki/gintoki/usecase/relay"
)

var relayTopics = &TopicCreation{Partitions: 3, Replication: -1, DeleteRetention: DefaultDeleteRetention}

func newCreatingPublisher(t *testing.T, brokers []string, log *logtest.Buffer) *Publisher {
	t.Helper()
	p, err := New(Config{Brokers: brokers, Version: "2.8.0", TopicPrefix: "gintoki", Database: "inventory",
		Tables: []string{"stock_items", "warehouses"}, CreateTopics: relayTopics}, WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func describe(t *testing.T, brokers []string, topic string) kafkatest.Topic {
	t.Helper()
	got, err := kafkatest.DescribeTopic(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkCompacted fails unless topic is what the relay creates.
func checkCompacted(t *testing.T, brokers []string, topic string) {
	t.Helper()
	got := describe(t, brokers, topic)
	if got.Partitions != 3 || got.Configs["cleanup.policy"] != "compact" || got.Configs["delete.retention.ms"] != "86400000" {
		t.Errorf("%s is %d partitions, %v; want 3, cleanup.policy=compact, delete.retention.ms=86400000", topic, got.Partitions, got.Configs)
	}
}

// The captured tables' topics are created compacted before anything is
// read or written: by EndOffsets, so that the first position names every
// partition, and by a publish. The broker would auto-create them (with 5
// partitions, cleanup.policy=delete) on a metadata request that allowed
// it: none does.
func TestPublisherCreatesCompactedChangeTopics(t *testing.T) {
	broker, err := kafkabroker.Start(kafkabroker.AutoCreateTopics(), kafkabroker.Partitions(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	stock, wh := ChangeTopic("gintoki", "inventory", "stock_items"), ChangeTopic("gintoki", "inventory", "warehouses")
	log := &logtest.Buffer{}
	p := newCreatingPublisher(t, brokers, log)

	ends, err := p.EndOffsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ends) != 6 {
		t.Errorf("end offsets %v; want the 3 partitions of each of the two topics, at 0", ends)
	}
	checkCompacted(t, brokers, stock)
	checkCompacted(t, brokers, wh)
	if got := log.Matching("level=INFO", "created the change topic", "topic="+stock, "partitions=3", "cleanup_policy=compact", "delete_retention_ms=86400000"); len(got) != 1 {
		t.Errorf("creation logged as %v", log.Lines())
	}

	// A fresh publisher, whose first publish makes the topics (the
	// warehouses' too, though nothing is written there).
	broker2, err := kafkabroker.Start(kafkabroker.AutoCreateTopics(), kafkabroker.Partitions(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker2.Close)
	brokers = broker2.Addrs()
	p = newCreatingPublisher(t, brokers, &logtest.Buffer{})
	if _, err := p.Publish(context.Background(), []*relay.Change{relayChange(domain.OpCreate, nil, stockImage("1", "1", "1"))}); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, brokers, stock)
	checkCompacted(t, brokers, wh)
	if err := p.Heartbeat(context.Background(), fixedNow, nil); err != nil {
		t.Fatal(err)
	}
	// The heartbeat topic keeps its one partition, created as before.
	if got := describe(t, brokers, debezium.HeartbeatTopic("gintoki")); got.Partitions != 1 {
		t.Errorf("heartbeat topic has %d partitions, want 1", got.Partitions)
	}
}

// A change topic that exists is never altered; one that is not compacted
// is warned about once, naming it and its policy.
func TestPublisherLeavesAnExistingTopicAndWarnsWhenNotCompacted(t *testing.T) {
	stock, wh := ChangeTopic("gintoki", "inventory", "stock_items"), ChangeTopic("gintoki", "inventory", "warehouses")
	broker, err := kafkabroker.Start(kafkabroker.Topics(2, stock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	log := &logtest.Buffer{}
	p := newCreatingPublisher(t, brokers, log)
	for pid := range 3 {
		if _, err := p.Publish(context.Background(), []*relay.Change{relayChange(domain.OpCreate, nil, stockImage(fmt.Sprint(pid+1), "1", "1"))}); err != nil {
			t.Fatal(err)
		}
	}
	if got := describe(t, brokers, stock); got.Partitions != 2 || got.Configs["cleanup.policy"] != "delete" {
		t.Errorf("existing topic is now %+v; want it as it was (2 partitions, delete)", got)
	}
	if n, err := kafkatest.TopicSize(brokers, stock); err != nil || n != 3 {
		t.Errorf("%s holds %d messages (%v), want 3", stock, n, err)
	}
	checkCompacted(t, brokers, wh)
	warns := log.Matching("level=WARN", "not compacted", "--cache-bootstrap=topic", "falls back to the database", "topic="+stock, "cleanup_policy=delete")
	if len(warns) != 1 {
		t.Errorf("warnings %v; want one naming %s and cleanup.policy=delete, in %v", warns, stock, log.Lines())
	}
	if got := log.Matching("level=WARN", "topic="+wh); len(got) != 0 {
		t.Errorf("the topic it created was warned about: %v", got)
	}
}

// A change topic deleted under a running publisher is created again,
// compacted, once a send has failed on it, rather than auto-created by
// the producer's look-up with the broker's defaults.
func TestPublisherCreatesADeletedTopicAgain(t *testing.T) {
	broker, err := kafkabroker.Start(kafkabroker.AutoCreateTopics(), kafkabroker.Partitions(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	stock := ChangeTopic("gintoki", "inventory", "stock_items")
	p := newCreatingPublisher(t, brokers, &logtest.Buffer{})
	publish := func() error {
		_, err := p.Publish(context.Background(), []*relay.Change{relayChange(domain.OpCreate, nil, stockImage("1", "1", "1"))})
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	if err := kafkatest.DeleteTopic(brokers, stock); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 30*time.Second, "a publish after the topic was deleted", func() bool { return publish() == nil })
	checkCompacted(t, brokers, stock)
}

// Without Config.CreateTopics (the demo's simulator) no topic is created,
// by the publisher or through the broker's auto-creation.
func TestPublisherWithoutCreateTopicsCreatesNone(t *testing.T) {
	broker, err := kafkabroker.Start(kafkabroker.AutoCreateTopics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	p, err := New(Config{Brokers: broker.Addrs(), Version: "2.8.0", TopicPrefix: "gintoki", Database: "inventory"},
		WithSaramaConfig(func(sc *sarama.Config) { sc.Producer.Retry.Max, sc.Metadata.Retry.Max = 1, 1 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if _, err := p.Publish(context.Background(), []*relay.Change{relayChange(domain.OpCreate, nil, stockImage("1", "1", "1"))}); err == nil {
		t.Error("a publish to a missing topic succeeded")
	}
	if topics, err := kafkatest.Topics(broker.Addrs()); err != nil || len(topics) != 0 {
		t.Errorf("topics %v (%v), want none", topics, err)
	}
}

// Zero values take the defaults; negative ones are refused by New.
func TestTopicCreationDefaultsAndChecks(t *testing.T) {
	spec := TopicCreation{}.spec()
	if spec.Partitions != 1 || spec.Replication != 0 && spec.Replication != -1 ||
		*spec.Configs["cleanup.policy"] != "compact" || *spec.Configs["delete.retention.ms"] != "86400000" {
		t.Errorf("zero TopicCreation: %+v %v", spec, spec.Configs)
	}
	if spec := (TopicCreation{Partitions: 6, Replication: 3, DeleteRetention: time.Hour}).spec(); spec.Partitions != 6 || spec.Replication != 3 || *spec.Configs["delete.retention.ms"] != "3600000" {
		t.Errorf("spec %+v %v", spec, spec.Configs)
	}
	for _, tc := range []TopicCreation{{Partitions: -1}, {Replication: -2}, {DeleteRetention: -time.Second}} {
		_, err := New(Config{Brokers: []string{"k:9092"}, TopicPrefix: "gintoki", CreateTopics: &tc})
		if err == nil || !strings.Contains(err.Error(), "none may be negative") {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}
