package kafkaconsumer

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/kafkatopic"
)

// Bootstrap from the change topics (Config.Bootstrap): the first session
// reads the table topics from their oldest offsets instead of their
// newest, so the events build the cache (see inventory's bootstrap). That
// is only right when a topic holds every row: compacted (the newest record
// of each key kept forever), or with nothing ever deleted from its start.
// A topic that may have lost rows to retention is refused, and the cache
// fills from the database instead.

// prepareBootstrap checks the table topics and, when they can serve a
// bootstrap, marks them to be read from their oldest offsets; otherwise it
// tells Options.BootstrapRefused why.
func (c *Consumer) prepareBootstrap(client sarama.Client) {
	for _, topic := range c.cfg.tableTopics() {
		why, err := bootstrapUnfit(client, topic)
		if err != nil {
			why = fmt.Sprintf("topic %s could not be checked (%v)", topic, err)
		}
		if why != "" {
			c.log.Warn("cache bootstrap from the change topics refused; the cache fills from the database", "reason", why)
			c.bootstrapRefused(why)
			return
		}
	}
	c.mu.Lock()
	for _, topic := range c.cfg.tableTopics() {
		c.fromOldest[topic] = true
	}
	c.mu.Unlock()
	c.log.Info("cache bootstrap: reading the table topics from their oldest offsets", "topics", c.cfg.tableTopics())
}

// bootstrapUnfit says why topic cannot serve a bootstrap, "" when it can: a
// partition starting after offset 0 lost records to retention, which only
// compaction (cleanup.policy=compact, without delete) makes harmless. A
// topic that does not exist yet is fit: it will be read from its start.
func bootstrapUnfit(client sarama.Client, topic string) (string, error) {
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, p := range parts {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return "", fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
		}
		if oldest == 0 {
			continue
		}
		policy, err := kafkatopic.CleanupPolicy(client, topic)
		if err != nil {
			return "", err
		}
		if !kafkatopic.Compacted(policy) {
			return fmt.Sprintf("topic %s partition %d starts at offset %d and is not compacted (cleanup.policy=%s): records deleted by retention may have held rows",
				topic, p, oldest, policy), nil
		}
		return "", nil
	}
	return "", nil
}
