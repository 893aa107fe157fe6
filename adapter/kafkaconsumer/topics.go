package kafkaconsumer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/usecase/changefeed"
)

// topicState is what one metadata answer says of a topic.
type topicState struct {
	exists bool
	// id tells a topic from one deleted and created again under its name;
	// zero when the protocol carries none (before Kafka 2.8).
	id sarama.Uuid
}

var errNoBroker = errors.New("no broker to ask")

// describeTopics asks one broker about topics in one metadata request that
// never creates a topic: on a broker with auto.create.topics.enable, a
// metadata request that allows creation creates every missing topic it
// names, and a reader that creates the topics it waits for would hide a
// wrong name, or recreate a deleted topic with the wrong partition count
// before its source does. A topic the answer does not settle (an error other
// than "unknown topic", e.g. a leader being elected) is left out; err means
// no broker could be asked, so nothing is known of any topic.
func describeTopics(client sarama.Client, topics []string) (map[string]topicState, error) {
	b := client.LeastLoadedBroker()
	if b == nil {
		return nil, errNoBroker
	}
	req := sarama.NewMetadataRequest(client.Config().Version, topics)
	req.AllowAutoTopicCreation = false
	resp, err := b.GetMetadata(req)
	if err != nil {
		// As sarama does after a failed metadata request: the connection
		// may be dead, and only a closed broker is opened again.
		_ = b.Close()
		return nil, fmt.Errorf("describe topics %v: %w", topics, err)
	}
	out := make(map[string]topicState, len(topics))
	for _, t := range resp.Topics {
		switch {
		case errors.Is(t.Err, sarama.ErrNoError):
			out[t.Name] = topicState{exists: true, id: t.Uuid}
		case errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition):
			out[t.Name] = topicState{}
		}
	}
	return out, nil
}

// allTopics are the configured topics: the tables' first.
func (c *Consumer) allTopics() []string {
	return append(slices.Clip(c.required), c.optional...)
}

func (c *Consumer) isTable(topic string) bool {
	return topic == c.cfg.StockTopic || topic != "" && topic == c.cfg.WarehouseTopic
}

// replacement is a topic whose data was replaced, and how it was seen.
type replacement struct {
	topic, why string
}

// observeTopics records what a metadata answer says of the topics this
// process consumes, and returns those whose data was replaced since it last
// looked: gone, or there under a new topic id. A replaced topic is consumed
// from its oldest offset the next time (what the broker now holds is all
// there is of it). A table never consumed yet is left to start at its
// newest offset, like every table at the process's start; an optional topic
// seen missing starts at its oldest once it appears, so the records that
// made it (the source's first heartbeat, the flush that created the control
// topic) are read. Callers hold c.mu.
func (c *Consumer) observeTopics(states map[string]topicState) []replacement {
	var out []replacement
	for _, topic := range c.allTopics() {
		st, known := states[topic]
		if !known {
			continue
		}
		owned := c.ownedAny(topic)
		was, seen := c.ids[topic]
		var why string
		switch {
		case !owned && c.isTable(topic):
		case !st.exists:
			why = "topic deleted, or the broker lost its data"
		case seen && was != (sarama.Uuid{}) && st.id != (sarama.Uuid{}) && st.id != was:
			why = "topic deleted and created again (new topic id)"
			c.fromOldest[topic] = false // a new incarnation, even if the last one was new too
		}
		c.ids[topic] = st.id
		if why == "" || c.fromOldest[topic] {
			continue // as it was, or already known to be gone
		}
		c.fromOldest[topic] = true
		if owned {
			out = append(out, replacement{topic: topic, why: why})
		}
	}
	return out
}

// ownedAny reports whether this process has consumed a partition of topic.
// Callers hold c.mu.
func (c *Consumer) ownedAny(topic string) bool {
	for p := range c.expected {
		if p.Topic == topic {
			return true
		}
	}
	return false
}

// reportReplaced reports a gap on every partition of a replaced table topic
// this process has consumed. Callers hold c.mu.
func (c *Consumer) reportReplaced(r replacement) {
	if !c.isTable(r.topic) {
		return // missed heartbeats or commands leave nothing wrong in the cache
	}
	for p := range c.expected {
		if p.Topic == r.topic {
			c.gap(p, r.why)
		}
	}
}

// restartsAtOldest lists the partitions of assigned that start at their
// oldest offset in a new session. Callers hold c.mu.
func (c *Consumer) restartsAtOldest(assigned []changefeed.Partition) []changefeed.Partition {
	var out []changefeed.Partition
	for _, p := range assigned {
		if c.fromOldest[p.Topic] {
			out = append(out, p)
		}
	}
	return out
}

// restarted forgets the topics of partitions a session has moved to their
// oldest offset: from now on they resume where they are read to.
func (c *Consumer) restarted(ps []changefeed.Partition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		delete(c.fromOldest, p.Topic)
	}
}
