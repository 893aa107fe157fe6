package kafkaproducer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/relay"
)

// batchRecorder is a batchSender that records batches; failNext fails the
// next send with sarama's per-message errors.
type batchRecorder struct {
	mu       sync.Mutex
	batches  [][]*sarama.ProducerMessage
	failNext bool
	closed   bool
}

func (b *batchRecorder) SendMessages(msgs []*sarama.ProducerMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("send on a closed producer")
	}
	if b.failNext {
		b.failNext = false
		var errs sarama.ProducerErrors
		for _, m := range msgs[:1] {
			errs = append(errs, &sarama.ProducerError{Msg: m, Err: sarama.ErrNotEnoughReplicas})
		}
		return errs
	}
	b.batches = append(b.batches, msgs)
	return nil
}

func (b *batchRecorder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

var relayStock = &relay.Table{DB: "shop", Name: "stock_items", Columns: []relay.Column{
	{Name: "product_id", Type: "bigint"}, {Name: "warehouse_id", Type: "bigint"}, {Name: "qty_salable", Type: "int"},
	{Name: "version", Type: "bigint", Unsigned: true}, {Name: "updated_at", Type: "datetime", Scale: 6},
}, Key: []int{0, 1}}

var relayLog = &relay.Table{DB: "shop", Name: "audit log", Columns: []relay.Column{{Name: "msg", Type: "text"}}}

func stockImage(pid, qty, version string) relay.Row {
	return relay.Row{[]byte(pid), []byte("1"), []byte(qty), []byte(version), []byte("2024-01-02 03:04:05.000006")}
}

func relayChange(op domain.Op, before, after relay.Row) *relay.Change {
	return &relay.Change{Table: relayStock, Op: op, Before: before, After: after,
		At: relay.Position{File: "mysql-bin.000004", Pos: 1234, GTID: "0-1-77"}, RowInEvent: 2, ServerID: 1,
		Thread: 9, Time: time.Unix(1700000000, 0)}
}

func TestChangeTopicReplacesCharactersKafkaRefuses(t *testing.T) {
	if got := ChangeTopic("gintoki", "shop", "stock_items"); got != "gintoki.shop.stock_items" {
		t.Errorf("plain: %q", got)
	}
	if got := ChangeTopic("gintoki", "shop-1", "audit log$"); got != "gintoki.shop-1.audit_log_" {
		t.Errorf("replaced: %q", got)
	}
}

func TestPublishWritesEventsKeysAndTombstones(t *testing.T) {
	rec := &batchRecorder{}
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	processed := time.Unix(1700000005, 0)
	p := newChangePublisher(rec, nil, Config{TopicPrefix: "gintoki"}, func() time.Time { return processed }, m)
	snap := relayChange(domain.OpRead, nil, stockImage("1", "5", "1"))
	snap.Snapshot = "first"
	changes := []*relay.Change{
		snap,
		relayChange(domain.OpCreate, nil, stockImage("2", "5", "1")),
		relayChange(domain.OpUpdate, stockImage("2", "5", "1"), stockImage("2", "6", "2")),
		relayChange(domain.OpDelete, stockImage("2", "6", "2"), nil),
		{Table: relayLog, Op: domain.OpDelete, Before: relay.Row{[]byte("gone")}, At: relay.Position{File: "mysql-bin.000004", Pos: 2000}},
	}
	if err := p.Publish(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if len(rec.batches) != 1 {
		t.Fatalf("%d sends, want the batch in one", len(rec.batches))
	}
	msgs := rec.batches[0]
	// r, c, u, d, tombstone, then the keyless delete without one.
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	for i, wantOp := range []domain.Op{'r', 'c', 'u', 'd'} {
		m := msgs[i]
		if m.Topic != "gintoki.shop.stock_items" {
			t.Errorf("message %d topic %q", i, m.Topic)
		}
		value := encoded(t, m.Value)
		env, err := debezium.DecodeEnvelope(value)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		s := env.Source
		if env.Op != wantOp || s.Name != "gintoki" || s.DB != "shop" || s.Table != "stock_items" || s.File != "mysql-bin.000004" ||
			s.Pos != 1234 || s.Row != 2 || s.GTID != "0-1-77" || s.Thread != 9 || s.ServerID != 1 || s.TsMs != 1700000000000 || env.TsMs != processed.UnixMilli() {
			t.Errorf("message %d: op %c source %+v ts %d", i, env.Op, s, env.TsMs)
		}
		if pid, _, err := debezium.DecodeStockKey(encoded(t, m.Key)); err != nil || pid != map[int]int64{0: 1, 1: 2, 2: 2, 3: 2}[i] {
			t.Errorf("message %d key %s: %v", i, encoded(t, m.Key), err)
		}
	}
	if env, _ := debezium.DecodeEnvelope(encoded(t, msgs[0].Value)); env.Source.Snapshot != "first" {
		t.Errorf("snapshot marker %q", env.Source.Snapshot)
	}
	if env, _ := debezium.DecodeEnvelope(encoded(t, msgs[2].Value)); env.Before == nil || !strings.Contains(string(env.Before), `"qty_salable":5`) {
		t.Errorf("update before-image %s", env.Before)
	}
	tomb := msgs[4]
	if tomb.Value != nil || string(encoded(t, tomb.Key)) != string(encoded(t, msgs[3].Key)) || tomb.Topic != msgs[3].Topic {
		t.Errorf("tombstone: topic %s key %v value %v; want the delete's key and a null value", tomb.Topic, tomb.Key, tomb.Value)
	}
	if msgs[5].Key != nil || msgs[5].Topic != "gintoki.shop.audit_log" {
		t.Errorf("keyless table: topic %s key %v", msgs[5].Topic, msgs[5].Key)
	}
	if got := counterOf(t, m.published.WithLabelValues("gintoki.shop.stock_items")); got != 5 {
		t.Errorf("published counter %v, want 5 (tombstone included)", got)
	}
}

func TestPublishFailureMakesANewProducer(t *testing.T) {
	first := &batchRecorder{failNext: true}
	second := &batchRecorder{}
	connects := 0
	connect := func() (batchSender, error) {
		connects++
		return second, nil
	}
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := newChangePublisher(first, connect, Config{TopicPrefix: "gintoki"}, nil, m)
	batch := []*relay.Change{relayChange(domain.OpCreate, nil, stockImage("1", "1", "1")), relayChange(domain.OpCreate, nil, stockImage("2", "1", "1"))}
	err = p.Publish(context.Background(), batch)
	var perrs sarama.ProducerErrors
	if err == nil || relay.IsPermanent(err) || !errors.As(err, &perrs) {
		t.Fatalf("failed send: %v; want a retryable error carrying sarama's", err)
	}
	if !first.closed || connects != 0 {
		t.Fatalf("after a failure: old producer closed %v, connects %d; want it closed and no new one yet", first.closed, connects)
	}
	if got := counterOf(t, m.failed.WithLabelValues("gintoki.shop.stock_items")); got != 1 {
		t.Errorf("failed counter %v, want 1 (the message sarama reported)", got)
	}
	if err := p.Publish(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if connects != 1 || len(second.batches) != 1 {
		t.Fatalf("connects %d, batches on the new producer %d", connects, len(second.batches))
	}
	if err := p.Close(); err != nil || !second.closed {
		t.Fatalf("Close: %v", err)
	}
	lazy := newChangePublisher(nil, func() (batchSender, error) { return nil, errors.New("broker down") }, Config{TopicPrefix: "gintoki"}, nil, nil)
	if err := lazy.Publish(context.Background(), batch); err == nil || !strings.Contains(err.Error(), "broker down") || relay.IsPermanent(err) {
		t.Fatalf("Publish with the broker down: %v; want a retryable error", err)
	}
	if err := lazy.Close(); err != nil {
		t.Fatalf("Close of a never-connected publisher: %v", err)
	}
	if err := p.Publish(context.Background(), batch); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPublishRefusesWhatCannotBeEncoded(t *testing.T) {
	rec := &batchRecorder{}
	p := newChangePublisher(rec, nil, Config{TopicPrefix: "gintoki"}, nil, nil)
	bad := []*relay.Change{
		relayChange(domain.OpCreate, nil, stockImage("x", "1", "1")),
		{Table: &relay.Table{DB: "shop", Name: "e", Columns: []relay.Column{{Name: "c", Type: "enum"}}}, Op: domain.OpCreate, After: relay.Row{[]byte("a")}},
	}
	for _, c := range bad {
		err := p.Publish(context.Background(), []*relay.Change{c})
		if err == nil || !relay.IsPermanent(err) {
			t.Errorf("%s: %v; want a permanent error", c.Table.Name, err)
		}
	}
	if len(rec.batches) != 0 {
		t.Errorf("sent %d batches of unencodable changes", len(rec.batches))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish on a cancelled context: %v", err)
	}
}

// TestChangePublisherThroughBroker: batches reach a real Kafka-protocol
// broker in order per key, on the partition Kafka's Java client would pick.
func TestChangePublisherThroughBroker(t *testing.T) {
	const partitions = 4
	topic := ChangeTopic("gintoki", "shop", "stock_items")
	broker, err := kafkabroker.Start(kafkabroker.Topics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	p, err := NewChangePublisher(Config{Brokers: broker.Addrs(), Version: "2.8.0", TopicPrefix: "gintoki", WithSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var batch []*relay.Change
	for pid := 1; pid <= 20; pid++ {
		id := []byte{byte('0' + pid/10), byte('0' + pid%10)}
		batch = append(batch,
			relayChange(domain.OpCreate, nil, stockImage(string(id), "1", "1")),
			relayChange(domain.OpUpdate, stockImage(string(id), "1", "1"), stockImage(string(id), "2", "2")),
			relayChange(domain.OpDelete, stockImage(string(id), "2", "2"), nil))
	}
	if err := p.Publish(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := kafkatest.Read(ctx, broker.Addrs(), topic, 80)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string][]string{}
	for _, m := range got {
		if want := PartitionFor(m.Key, partitions); m.Partition != want {
			t.Errorf("key %s on partition %d, want %d", m.Key, m.Partition, want)
		}
		op := "tombstone"
		if m.Value != nil {
			env, err := debezium.DecodeEnvelope(m.Value)
			if err != nil || !env.Wrapped {
				t.Fatalf("value: %v (wrapped %v)", err, env.Wrapped)
			}
			op = env.Op.String()
		}
		perKey[string(m.Key)] = append(perKey[string(m.Key)], op)
	}
	if len(perKey) != 20 {
		t.Fatalf("%d keys, want 20", len(perKey))
	}
	for k, ops := range perKey {
		if strings.Join(ops, ",") != "c,u,d,tombstone" {
			t.Errorf("key %s: %v", k, ops)
		}
	}
}

func encoded(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
