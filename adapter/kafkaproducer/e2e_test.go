package kafkaproducer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/simulator"
)

const (
	e2ePrefix     = "gintoki"
	e2eDB         = "demo"
	e2ePartitions = 4
	// Guards against a hang only; the test never measures time.
	e2eDeadline = time.Minute
)

type stockKey struct{ product, warehouse int64 }

// expected is one message a key should have produced, in order; a nil row
// stands for the tombstone.
type expected struct {
	op  domain.Op
	row *domain.StockRow
}

// TestPublishThroughBroker publishes stock events through a real Kafka
// protocol broker and reads them back with a plain sarama consumer.
func TestPublishThroughBroker(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	for _, tc := range []struct {
		name       string
		withSchema bool
	}{
		{"bare", false},
		{"wrapped", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stockTopic := kafkaproducer.ChangeTopic(e2ePrefix, e2eDB, "stock_items")
			broker, err := kafkabroker.Start(kafkabroker.Topics(e2ePartitions, stockTopic))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(broker.Close)

			pub, err := kafkaproducer.New(kafkaproducer.Config{
				Brokers: broker.Addrs(), Version: "2.8.0", ClientID: "e2e",
				TopicPrefix: e2ePrefix, Database: e2eDB, WithSchema: tc.withSchema,
			})
			if err != nil {
				t.Fatal(err)
			}

			ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
				SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
				TraceFlags: trace.FlagsSampled,
			}))
			want, total := publishScript(ctx, t, pub)
			if err := pub.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			got := readMessages(t, broker.Addrs(), stockTopic, total)
			checkDelivery(t, want, got)
		})
	}
}

// publishScript writes, for 6 products x 3 warehouses, an insert and three
// updates per row, then deletes two rows. It returns what each key should
// have produced and the number of messages.
func publishScript(ctx context.Context, t *testing.T, pub *kafkaproducer.Publisher) (map[stockKey][]expected, int) {
	t.Helper()
	want := map[stockKey][]expected{}
	total := 0
	publish := func(op domain.Op, before, after *domain.StockRow) {
		t.Helper()
		if err := pub.PublishStock(ctx, op, before, after, 1_700_000_000_000_000); err != nil {
			t.Fatalf("PublishStock(%s, %+v, %+v): %v", op, before, after, err)
		}
		row := after
		if op == domain.OpDelete {
			row = before
		}
		k := stockKey{row.ProductID, row.WarehouseID}
		want[k] = append(want[k], expected{op, row})
		total++
		if op == domain.OpDelete {
			want[k] = append(want[k], expected{op: op})
			total++
		}
	}

	rows := map[stockKey]*domain.StockRow{}
	for round := range 4 {
		for p := int64(1); p <= 6; p++ {
			for w := int64(1); w <= 3; w++ {
				k := stockKey{p, w}
				next := &domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(round*10) + int32(p), Version: uint64(round + 1)}
				if round == 0 {
					publish(domain.OpCreate, nil, next)
				} else {
					publish(domain.OpUpdate, rows[k], next)
				}
				rows[k] = next
			}
		}
	}
	for _, k := range []stockKey{{1, 1}, {4, 2}} {
		publish(domain.OpDelete, rows[k], nil)
	}
	return want, total
}

func checkDelivery(t *testing.T, want map[stockKey][]expected, got []*sarama.ConsumerMessage) {
	t.Helper()
	perKey := map[stockKey][]*sarama.ConsumerMessage{}
	partitionsUsed := map[int32]bool{}
	for _, m := range got {
		pid, wid, err := debezium.DecodeStockKey(m.Key)
		if err != nil {
			t.Fatalf("partition %d offset %d: key %s: %v", m.Partition, m.Offset, m.Key, err)
		}
		k := stockKey{pid, wid}
		if want := kafkaproducer.PartitionFor(m.Key, e2ePartitions); m.Partition != want {
			t.Errorf("key %v on partition %d, murmur2 places it on %d", k, m.Partition, want)
		}
		if len(perKey[k]) > 0 && perKey[k][0].Partition != m.Partition {
			t.Errorf("key %v on partitions %d and %d", k, perKey[k][0].Partition, m.Partition)
		}
		partitionsUsed[m.Partition] = true
		if !hasTraceparent(m) {
			t.Errorf("key %v offset %d: no traceparent header", k, m.Offset)
		}
		perKey[k] = append(perKey[k], m)
	}
	if len(partitionsUsed) < 2 {
		t.Errorf("all keys landed on %d partition(s); the test needs keys spread over several", len(partitionsUsed))
	}

	for k, exp := range want {
		msgs := perKey[k]
		// Messages of one partition arrive in offset order; the channel
		// keeps that order per partition, and a key has one partition.
		if len(msgs) != len(exp) {
			t.Errorf("key %v: %d messages, want %d", k, len(msgs), len(exp))
			continue
		}
		for i, e := range exp {
			m := msgs[i]
			if i > 0 && m.Offset <= msgs[i-1].Offset {
				t.Errorf("key %v: offsets out of order: %d after %d", k, m.Offset, msgs[i-1].Offset)
			}
			if e.row == nil {
				if m.Value != nil {
					t.Errorf("key %v message %d: value %s, want a tombstone (null)", k, i, m.Value)
				}
				continue
			}
			change, err := debezium.DecodeStock(m.Value)
			if err != nil {
				t.Errorf("key %v message %d: %v", k, i, err)
				continue
			}
			if change.Op != e.op || change.Row != *e.row {
				t.Errorf("key %v message %d: %s %+v, want %s %+v", k, i, change.Op, change.Row, e.op, *e.row)
			}
		}
	}
	for k := range perKey {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %v", k)
		}
	}
}

func hasTraceparent(m *sarama.ConsumerMessage) bool {
	want := fmt.Sprintf("00-%s-%s-01", trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	for _, h := range m.Headers {
		if string(h.Key) == "traceparent" && string(h.Value) == want {
			return true
		}
	}
	return false
}

var _ simulator.Publisher = (*kafkaproducer.Publisher)(nil)

// TestSimulatorThroughBroker runs the demo's change path end to end: the
// simulator changes rows in a SQLite database and publishes through a
// broker; the events read back replay to exactly what the database holds.
func TestSimulatorThroughBroker(t *testing.T) {
	const (
		products, warehouses = 4, 3
		wantChanges          = 40
	)
	stockTopic := kafkaproducer.ChangeTopic(e2ePrefix, e2eDB, "stock_items")
	broker, err := kafkabroker.Start(kafkabroker.Topics(e2ePartitions, stockTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	pub, err := kafkaproducer.New(kafkaproducer.Config{
		Brokers: broker.Addrs(), TopicPrefix: e2ePrefix, Database: e2eDB,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	repo := gormrepo.New(dbtest.SQLite(t), nil)
	ctx := context.Background()
	for p := int64(1); p <= products; p++ {
		for w := int64(1); w <= warehouses; w++ {
			if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}

	sim, err := simulator.New(simulator.Config{Rate: 500, Products: products, Warehouses: warehouses, Seed: 11}, repo, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	guard := time.After(e2eDeadline)
	for sim.Stats().Changes < wantChanges {
		select {
		case <-guard:
			stop()
			t.Fatalf("simulator made %+v before giving up", sim.Stats())
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	if st.Errors != 0 {
		t.Fatalf("simulator stats %+v, want no errors", st)
	}

	// Replay the feed per key: versions only grow, and the last image of
	// each key is the row in the database.
	latest := map[stockKey]domain.StockRow{}
	for _, m := range readMessages(t, broker.Addrs(), stockTopic, int(st.Changes)) {
		change, err := debezium.DecodeStock(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if change.Op != domain.OpUpdate {
			t.Errorf("op %s, want u", change.Op)
		}
		k := stockKey{change.Row.ProductID, change.Row.WarehouseID}
		if prev, ok := latest[k]; ok && change.Row.Version <= prev.Version {
			t.Errorf("key %v: version %d after %d", k, change.Row.Version, prev.Version)
		}
		latest[k] = change.Row
	}
	ids := make([]int64, 0, products)
	for p := int64(1); p <= products; p++ {
		ids = append(ids, p)
	}
	rows, err := repo.StockByProducts(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		k := stockKey{r.Stock.ProductID, r.Stock.WarehouseID}
		ev, ok := latest[k]
		if !ok {
			if r.Stock.QtySalable != 1 {
				t.Errorf("row %v changed to %+v without an event", k, r.Stock)
			}
			continue
		}
		if ev != r.Stock {
			t.Errorf("row %v: last event %+v, database %+v", k, ev, r.Stock)
		}
	}
}

// readMessages reads n messages from every partition of topic.
func readMessages(t *testing.T, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	if ends, err := kafkatest.EndOffsets(brokers, topic); err != nil || len(ends) != e2ePartitions {
		t.Fatalf("topic %s has %d partitions (%v), want %d", topic, len(ends), err, e2ePartitions)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eDeadline)
	defer cancel()
	got, err := kafkatest.Read(ctx, brokers, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
