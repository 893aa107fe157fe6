// Package kafkatopic creates the topics Gintoki owns when they are missing,
// as Kafka Connect does for Debezium's: the relay's checkpoint and heartbeat
// topics and the fleet control topic (one partition each), and the relay's
// change topics (compacted, partitioned as configured).
package kafkatopic

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// Spec is how a missing topic is created.
type Spec struct {
	// Partitions is the partition count; 0 means 1.
	Partitions int32
	// Replication is the replication factor; -1 (or 0) is the cluster's
	// default.replication.factor where the protocol allows it (Kafka 2.4+),
	// else 1.
	Replication int16
	// Configs are the topic's configuration entries (cleanup.policy, ...).
	Configs map[string]*string
}

// Ensure creates topic with one partition (its records must stay in order)
// and the given configuration entries when it does not exist, at the
// cluster's default replication. It reports whether it created the topic.
func Ensure(client sarama.Client, topic string, configs map[string]*string) (bool, error) {
	return EnsureSpec(client, topic, Spec{Partitions: 1, Replication: -1, Configs: configs})
}

// EnsureSpec creates topic as spec says when it does not exist, and leaves
// an existing topic exactly as it is. Creating needs the CREATE ACL on the
// topic; the error says so. It reports whether it created the topic.
//
// The client must not create topics on metadata requests
// (Metadata.AllowAutoTopicCreation false): the look-up would otherwise
// create the topic with the broker's defaults before this could.
func EnsureSpec(client sarama.Client, topic string, spec Spec) (bool, error) {
	err := client.RefreshMetadata(topic)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return false, fmt.Errorf("look up topic %s: %w", topic, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return false, fmt.Errorf("create topic %s: %w", topic, err)
	}
	// Closing the admin would close the client it shares; it holds nothing
	// else.
	parts := max(spec.Partitions, 1)
	rf := spec.Replication
	if rf <= 0 {
		rf = -1
		if !client.Config().Version.IsAtLeast(sarama.V2_4_0_0) {
			rf = 1
		}
	}
	detail := &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: rf, ConfigEntries: spec.Configs}
	if err := admin.CreateTopic(topic, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return false, fmt.Errorf("create topic %s: %w; create it yourself (%s), or grant CREATE on it", topic, err, describe(parts, spec.Configs))
	}
	if err := client.RefreshMetadata(topic); err != nil {
		return false, fmt.Errorf("topic %s: %w", topic, err)
	}
	return true, nil
}

// describe says how a topic is to be made, for an operator doing it by
// hand: "3 partitions, cleanup.policy=compact".
func describe(parts int32, configs map[string]*string) string {
	what := "1 partition"
	if parts != 1 {
		what = fmt.Sprintf("%d partitions", parts)
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if v := configs[k]; v != nil {
			what += ", " + k + "=" + *v
		}
	}
	return what
}

// Configs reads configuration entries of an existing topic as the broker
// applies them, its defaults included; an entry the broker does not report
// is left out. It needs the DESCRIBE_CONFIGS ACL on the topic.
func Configs(client sarama.Client, topic string, names ...string) (map[string]string, error) {
	// The admin shares the client: closing it would close the client too.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: names}},
		sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	out := make(map[string]string, len(names))
	for _, r := range res {
		if r.ErrorCode != sarama.ErrNoError {
			return nil, fmt.Errorf("describe topic %s: %w: %s", topic, r.ErrorCode, r.ErrorMsg)
		}
		for _, e := range r.Configs {
			out[e.Name] = e.Value
		}
	}
	return out, nil
}

// CleanupPolicy reads an existing topic's cleanup.policy, Kafka's default
// ("delete") when the broker reports none.
func CleanupPolicy(client sarama.Client, topic string) (string, error) {
	cfgs, err := Configs(client, topic, "cleanup.policy")
	if err != nil {
		return "", err
	}
	if policy, ok := cfgs["cleanup.policy"]; ok {
		return policy, nil
	}
	return "delete", nil
}

// Compacted reports whether a cleanup.policy keeps the newest record of
// every key for good: compact alone. "compact,delete" also deletes by
// retention, and "delete" (Kafka's default) keeps nothing for good.
func Compacted(policy string) bool {
	return strings.TrimSpace(policy) == "compact"
}
