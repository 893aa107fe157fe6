package relaymod

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
)

// heartbeatLog follows a heartbeat topic from its start.
type heartbeatLog struct {
	mu   sync.Mutex
	msgs []*sarama.ConsumerMessage
}

func followHeartbeats(t *testing.T, brokers []string, topic string) *heartbeatLog {
	t.Helper()
	waitFor(t, "the heartbeat topic", func() bool {
		client, err := sarama.NewClient(brokers, sarama.NewConfig())
		if err != nil {
			return false
		}
		defer client.Close()
		return client.RefreshMetadata(topic) == nil
	}, nil)
	consumer, err := sarama.NewConsumer(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = consumer.Close() })
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	l := &heartbeatLog{}
	go func() {
		for m := range pc.Messages() {
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *heartbeatLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

func (l *heartbeatLog) all() []*sarama.ConsumerMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*sarama.ConsumerMessage(nil), l.msgs...)
}

// TestRelaySendsHeartbeatsOnlyWhileReadingTheBinlog: on an idle database the
// relay sends Debezium-format heartbeats (creating their topic); cut off from
// MySQL it falls silent within the caught-up bound, so read nodes notice;
// back in touch it sends them again.
func TestRelaySendsHeartbeatsOnlyWhileReadingTheBinlog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 1)
	cfg, proxy := h.cutOff()
	cfg.SourceHeartbeat = 100 * time.Millisecond
	cfg.WithSchema = true
	rr := startRelay(t, cfg)
	beats := followHeartbeats(t, h.broker.Addrs(), debezium.HeartbeatTopic(testPrefix))
	waitFor(t, "heartbeats on an idle database", func() bool { return beats.count() >= 5 }, rr.done)

	first := beats.all()[0]
	var key struct {
		Payload struct{ ServerName string } `json:"payload"`
	}
	var value struct {
		Payload struct {
			TsMs int64 `json:"ts_ms"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(first.Key, &key); err != nil || key.Payload.ServerName != testPrefix {
		t.Fatalf("heartbeat key %s: %v", first.Key, err)
	}
	if err := json.Unmarshal(first.Value, &value); err != nil || time.Since(time.UnixMilli(value.Payload.TsMs)) > time.Minute {
		t.Fatalf("heartbeat value %s: %v", first.Value, err)
	}
	if _, err := debezium.DecodeEnvelope(first.Value); err == nil {
		t.Fatal("a heartbeat decoded as a row event")
	}
	if n := counted(t, rr.reg, "gintoki_relay_heartbeats_total"); n < 5 {
		t.Fatalf("gintoki_relay_heartbeats_total = %v", n)
	}

	cut := time.Now()
	proxy.Cut()
	// The bound: Kafka held everything up to at most 2 binlog heartbeats
	// (cfg.Heartbeat, 1 s) + 2 s ago. Past it, silence.
	within := 2*cfg.Heartbeat + 2*time.Second
	waitFor(t, "silence after the cut", func() bool {
		n := beats.count()
		time.Sleep(time.Second)
		return beats.count() == n && time.Since(cut) > within
	}, rr.done)
	for _, m := range beats.all() {
		if m.Timestamp.Sub(cut) > within+time.Second {
			t.Fatalf("a heartbeat %s after MySQL was cut off (bound %s)", m.Timestamp.Sub(cut), within)
		}
	}

	silent := beats.count()
	proxy.Restore(t)
	waitFor(t, "heartbeats again", func() bool { return beats.count() > silent+3 }, rr.done)
}
