// Package kafkatopic creates the small topics Gintoki owns (the relay's
// checkpoint and heartbeat topics, the fleet control topic) when they are
// missing, as Kafka Connect does for Debezium's.
package kafkatopic

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Ensure creates topic with one partition (its records must stay in order)
// and the given configuration entries when it does not exist. The
// replication factor is the cluster's default (-1) where the protocol allows
// it (Kafka 2.4+), else 1. Creating needs the CREATE ACL on the topic; the
// error says so. It reports whether it created the topic.
func Ensure(client sarama.Client, topic string, configs map[string]*string) (bool, error) {
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
	rf := int16(-1)
	if !client.Config().Version.IsAtLeast(sarama.V2_4_0_0) {
		rf = 1
	}
	detail := &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: rf, ConfigEntries: configs}
	if err := admin.CreateTopic(topic, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return false, fmt.Errorf("create topic %s: %w; create it yourself (1 partition), or grant CREATE on it", topic, err)
	}
	if err := client.RefreshMetadata(topic); err != nil {
		return false, fmt.Errorf("topic %s: %w", topic, err)
	}
	return true, nil
}
