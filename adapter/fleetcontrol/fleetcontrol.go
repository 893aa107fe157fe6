// Package fleetcontrol is the control topic every read node consumes besides
// the change feed: a command written to it once reaches the whole fleet,
// since each node reads every record with a consumer group of its own.
//
// Its one command is flush: every node drops its cache and markers and
// reloads its warehouse directory, for when the database changed under the
// feed (a restore from a backup, a bulk load that reused versions, an
// incident). A flush is safe to repeat, and a node started after it never
// sees it (it starts with an empty cache and at the newest offset anyway).
package fleetcontrol

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// ActionFlush drops every node's cache.
const ActionFlush = "flush"

// Topic is the control topic of a Debezium topic.prefix, named like
// Debezium's own __debezium-heartbeat.<prefix>.
func Topic(prefix string) string { return "__gintoki-control." + prefix }

// Command is one control record's value.
type Command struct {
	Action string `json:"action"`
	// ID tells one request from another in the nodes' logs.
	ID string `json:"id"`
	// Reason is the operator's, for the logs.
	Reason        string `json:"reason,omitempty"`
	RequestedAtMs int64  `json:"requested_at_ms"`
}

// NewFlush returns a flush command with a fresh id.
func NewFlush(reason string, now time.Time) Command {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return Command{Action: ActionFlush, ID: hex.EncodeToString(id[:]), Reason: reason, RequestedAtMs: now.UnixMilli()}
}

// Decode reads a control record's value.
func Decode(value []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(value, &c); err != nil {
		return Command{}, fmt.Errorf("control record: %w", err)
	}
	if c.Action == "" {
		return Command{}, errors.New("control record: no action")
	}
	return c, nil
}

// EnsureTopic creates the control topic when it does not exist: one
// partition (commands are rare and must stay in order), replicated on up to
// three brokers. Creating it needs the Create ACL on the topic; a cluster that
// denies it needs the topic made once by an operator.
func EnsureTopic(client sarama.Client, topic string) error {
	if err := client.RefreshMetadata(topic); err == nil {
		return nil
	} else if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("look up control topic %s: %w", topic, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("create control topic %s: %w", topic, err)
	}
	// Closing the admin would close the shared client: it is left to it.
	detail := &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: int16(min(3, len(client.Brokers())))}
	if err := admin.CreateTopic(topic, detail, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create control topic %s: %w", topic, err)
	}
	return client.RefreshMetadata(topic)
}

// Send writes cmd to the control topic, creating the topic first when it is
// missing, and returns where the record landed.
func Send(ctx context.Context, client sarama.Client, topic string, cmd Command) (partition int32, offset int64, err error) {
	if err := EnsureTopic(client, topic); err != nil {
		return 0, 0, err
	}
	value, err := json.Marshal(cmd)
	if err != nil {
		return 0, 0, fmt.Errorf("encode control record: %w", err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return 0, 0, fmt.Errorf("control topic producer: %w", err)
	}
	defer producer.Close()
	type result struct {
		p   int32
		o   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, o, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(cmd.Action), Value: sarama.ByteEncoder(value)})
		done <- result{p, o, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return 0, 0, fmt.Errorf("send %s to %s: %w", cmd.Action, topic, r.err)
		}
		return r.p, r.o, nil
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("send %s to %s: %w", cmd.Action, topic, ctx.Err())
	}
}
