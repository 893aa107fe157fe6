package kafkatest

import (
	"fmt"
	"slices"

	"github.com/IBM/sarama"
)

// What an operator, or a broker's retention, does to a feed: the topics there
// are, a topic deleted, the start of a partition deleted. Through the admin
// API, as on a real cluster; none of these requests creates a topic.

func withAdmin(brokers []string, do func(sarama.ClusterAdmin) error) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Metadata.AllowAutoTopicCreation = false
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	return do(admin)
}

// Topics lists the topics that exist, sorted.
func Topics(brokers []string) ([]string, error) {
	var names []string
	err := withAdmin(brokers, func(a sarama.ClusterAdmin) error {
		all, err := a.ListTopics()
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		for name := range all {
			names = append(names, name)
		}
		return nil
	})
	slices.Sort(names)
	return names, err
}

// DeleteTopic deletes topic, with its data and every group's offsets of it.
func DeleteTopic(brokers []string, topic string) error {
	return withAdmin(brokers, func(a sarama.ClusterAdmin) error {
		if err := a.DeleteTopic(topic); err != nil {
			return fmt.Errorf("delete topic %s: %w", topic, err)
		}
		return nil
	})
}

// DeleteRecords deletes, in each partition named, every record below the
// offset given, as retention does: the partition's oldest offset moves up.
func DeleteRecords(brokers []string, topic string, before map[int32]int64) error {
	return withAdmin(brokers, func(a sarama.ClusterAdmin) error {
		if err := a.DeleteRecords(topic, before); err != nil {
			return fmt.Errorf("delete records of %s below %v: %w", topic, before, err)
		}
		return nil
	})
}

// Topic is what the broker says of a topic: its partitions and replication,
// and its configuration as applied (the broker's defaults included).
type Topic struct {
	Partitions  int
	Replication int
	Configs     map[string]string
}

// DescribeTopic reads topic's partitions and configuration through the
// admin API (DescribeTopics, DescribeConfigs).
func DescribeTopic(brokers []string, topic string) (Topic, error) {
	var out Topic
	err := withAdmin(brokers, func(a sarama.ClusterAdmin) error {
		metas, err := a.DescribeTopics([]string{topic})
		if err != nil {
			return fmt.Errorf("describe topic %s: %w", topic, err)
		}
		if len(metas) != 1 {
			return fmt.Errorf("describe topic %s: %d answers", topic, len(metas))
		}
		if metas[0].Err != sarama.ErrNoError {
			return fmt.Errorf("describe topic %s: %w", topic, metas[0].Err)
		}
		out.Partitions = len(metas[0].Partitions)
		if out.Partitions > 0 {
			out.Replication = len(metas[0].Partitions[0].Replicas)
		}
		res, err := a.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic}}, sarama.DescribeConfigsOptions{})
		if err != nil {
			return fmt.Errorf("describe the configuration of %s: %w", topic, err)
		}
		out.Configs = map[string]string{}
		for _, r := range res {
			if r.ErrorCode != sarama.ErrNoError {
				return fmt.Errorf("describe the configuration of %s: %w: %s", topic, r.ErrorCode, r.ErrorMsg)
			}
			for _, e := range r.Configs {
				out.Configs[e.Name] = e.Value
			}
		}
		return nil
	})
	return out, err
}
