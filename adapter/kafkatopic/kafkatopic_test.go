package kafkatopic

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

// client connects as the callers do: metadata requests never create a
// topic.
func client(t *testing.T, brokers []string) sarama.Client {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Metadata.AllowAutoTopicCreation = false
	c, err := sarama.NewClient(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startBroker(t *testing.T, opts ...kafkabroker.Option) []string {
	t.Helper()
	b, err := kafkabroker.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

func str(s string) *string { return &s }

// A missing topic is created with the partitions and configuration asked
// for; an existing one is left exactly as it is.
func TestEnsureSpecCreatesAMissingTopicAndLeavesAnExistingOne(t *testing.T) {
	brokers := startBroker(t, kafkabroker.Topics(2, "existing"))
	c := client(t, brokers)
	spec := Spec{Partitions: 3, Replication: -1, Configs: map[string]*string{
		"cleanup.policy": str("compact"), "delete.retention.ms": str("86400000")}}

	created, err := EnsureSpec(c, "fresh", spec)
	if err != nil || !created {
		t.Fatalf("EnsureSpec(fresh) = %v, %v; want created", created, err)
	}
	got, err := kafkatest.DescribeTopic(brokers, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if got.Partitions != 3 || got.Replication != 1 || got.Configs["cleanup.policy"] != "compact" || got.Configs["delete.retention.ms"] != "86400000" {
		t.Errorf("created %+v; want 3 partitions at the broker's replication (1), compact, delete.retention.ms 86400000", got)
	}
	if created, err := EnsureSpec(c, "fresh", spec); err != nil || created {
		t.Errorf("EnsureSpec(fresh) again = %v, %v; want nothing done", created, err)
	}

	created, err = EnsureSpec(c, "existing", spec)
	if err != nil || created {
		t.Fatalf("EnsureSpec(existing) = %v, %v; want nothing done", created, err)
	}
	got, err = kafkatest.DescribeTopic(brokers, "existing")
	if err != nil {
		t.Fatal(err)
	}
	if got.Partitions != 2 || got.Configs["cleanup.policy"] != "delete" {
		t.Errorf("existing topic is now %+v; want it untouched (2 partitions, delete)", got)
	}
	cfgs, err := Configs(c, "existing", "cleanup.policy")
	if err != nil || cfgs["cleanup.policy"] != "delete" {
		t.Errorf("Configs(existing) = %v, %v; want the broker's default cleanup.policy=delete", cfgs, err)
	}
}

// Ensure keeps making the one-partition topics it always made.
func TestEnsureMakesOnePartition(t *testing.T) {
	brokers := startBroker(t)
	if created, err := Ensure(client(t, brokers), "control", map[string]*string{"cleanup.policy": str("compact")}); err != nil || !created {
		t.Fatalf("Ensure = %v, %v", created, err)
	}
	got, err := kafkatest.DescribeTopic(brokers, "control")
	if err != nil {
		t.Fatal(err)
	}
	if got.Partitions != 1 || got.Configs["cleanup.policy"] != "compact" {
		t.Errorf("created %+v; want 1 compacted partition", got)
	}
}

// A topic the broker refuses to create fails with what to make by hand.
func TestEnsureSpecRefusedSaysWhatToCreate(t *testing.T) {
	brokers := startBroker(t)
	// One broker cannot hold three replicas.
	_, err := EnsureSpec(client(t, brokers), "t", Spec{Partitions: 3, Replication: 3, Configs: map[string]*string{"cleanup.policy": str("compact")}})
	if err == nil || !strings.Contains(err.Error(), "create it yourself (3 partitions, cleanup.policy=compact), or grant CREATE on it") {
		t.Fatalf("EnsureSpec with 3 replicas on one broker: %v", err)
	}
	if topics, err := kafkatest.Topics(brokers); err != nil || len(topics) != 0 {
		t.Errorf("topics %v (%v), want none", topics, err)
	}
}

func TestCompacted(t *testing.T) {
	for policy, want := range map[string]bool{"compact": true, " compact ": true, "delete": false, "compact,delete": false, "delete,compact": false, "": false} {
		if Compacted(policy) != want {
			t.Errorf("Compacted(%q) = %v, want %v", policy, !want, want)
		}
	}
}
