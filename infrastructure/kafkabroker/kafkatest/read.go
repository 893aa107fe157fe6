// Package kafkatest reads topics back for tests: what the relay, the
// producer or the simulator published, every partition from the start, in
// the order each partition holds it. It sits beside kafkabroker, which
// tests start the broker with, and is imported by tests only.
package kafkatest

import (
	"context"
	"fmt"
	"sort"

	"github.com/IBM/sarama"
)

func newClient(brokers []string) (sarama.Client, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	return sarama.NewClient(brokers, cfg)
}

// EndOffsets returns the end offset of every partition of topic: how many
// messages each has ever held.
func EndOffsets(brokers []string, topic string) (map[int32]int64, error) {
	client, err := newClient(brokers)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	defer client.Close()
	return endOffsets(client, topic)
}

func endOffsets(client sarama.Client, topic string) (map[int32]int64, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	ends := make(map[int32]int64, len(parts))
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		ends[p] = end
	}
	return ends, nil
}

// TopicSize is the sum of EndOffsets: every message the topic ever held.
func TopicSize(brokers []string, topic string) (int64, error) {
	ends, err := EndOffsets(brokers, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n, nil
}

// ReadToEnd reads what topic holds now: every partition from its oldest
// message to the end offset it had when ReadToEnd asked, sorted by
// partition and offset.
func ReadToEnd(ctx context.Context, brokers []string, topic string) ([]*sarama.ConsumerMessage, error) {
	client, err := newClient(brokers)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	defer client.Close()
	ends, err := endOffsets(client, topic)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return read(ctx, client, topic, int(n), ends)
}

// Read reads every partition of topic from its oldest message until n
// messages arrived, sorted by partition and offset. It fails when ctx ends
// first, saying how many it read.
func Read(ctx context.Context, brokers []string, topic string, n int) ([]*sarama.ConsumerMessage, error) {
	client, err := newClient(brokers)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	defer client.Close()
	return read(ctx, client, topic, n, nil)
}

// read consumes every partition (only up to ends[p], when ends is given).
func read(ctx context.Context, client sarama.Client, topic string, n int, ends map[int32]int64) ([]*sarama.ConsumerMessage, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan *sarama.ConsumerMessage)
	for _, p := range parts {
		end, bounded := ends[p]
		if ends != nil && (!bounded || end == 0) {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				if ends != nil && m.Offset >= end {
					return
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	got := make([]*sarama.ConsumerMessage, 0, n)
	for len(got) < n {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-ctx.Done():
			return got, fmt.Errorf("read %s: %d of %d messages before giving up: %w", topic, len(got), n, ctx.Err())
		}
	}
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got, nil
}
