package kafkaconsumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
)

type nopRepo struct{}

func (nopRepo) StockByProducts(context.Context, []int64) ([]domain.StockWithWarehouse, error) {
	return nil, nil
}
func (nopRepo) Warehouses(context.Context) ([]domain.Warehouse, error) { return nil, nil }
func (nopRepo) Ping(context.Context) error                             { return nil }
func (nopRepo) Position(context.Context) (domain.SourcePos, error)     { return nil, nil }

// countingApplier counts what reaches the read path.
type countingApplier struct {
	*inventory.Changes
	n atomic.Int64
}

func (c *countingApplier) ApplyStock(ch domain.StockChange) inventory.Outcome {
	out := c.Changes.ApplyStock(ch)
	c.n.Add(1)
	return out
}

// End to end through the Kafka-protocol broker: b.N Debezium events wait on
// the topic (3 partitions); the clock runs while one consumer (one instance)
// fetches, decodes and applies them all. Reported as events/s.
func BenchmarkEndToEndThroughBroker(b *testing.B) {
	topic := kafkaconsumer.TopicName("bench", "inventory", "stock_items")
	wtopic := kafkaconsumer.TopicName("bench", "inventory", "warehouses")
	broker, err := kafkabroker.Start(kafkabroker.Topics(3, topic, wtopic))
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()

	store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	rp := inventory.New(inventory.Config{
		CacheEnabled: true, TTL: time.Hour, MarkerTTL: time.Minute,
		DBMaxInFlight: 4, DBQueueTimeout: time.Second, DBQueryTimeout: time.Second,
	}, nopRepo{}, store, nil, nil)
	applier := &countingApplier{Changes: rp.Changes}
	tracker := changefeed.NewTracker(rp.Upkeep, time.Minute, nil)
	cons, err := kafkaconsumer.New(kafkaconsumer.Config{
		Brokers: broker.Addrs(), Group: fmt.Sprintf("bench-%d", time.Now().UnixNano()),
		StockTopic: topic, WarehouseTopic: wtopic,
	}, applier, tracker, kafkaconsumer.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := cons.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for tracker.State() != changefeed.Live {
		time.Sleep(10 * time.Millisecond)
	}
	// Park the consumer (it commits its position), fill the topic, resume.
	if err := cons.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	produce(b, broker.Addrs(), topic, b.N)

	b.ResetTimer()
	if err := cons.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for applier.n.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	_ = cons.Stop(ctx)
}

func produce(b *testing.B, brokers []string, topic string, n int) {
	b.Helper()
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = kafkaproducer.NewPartitioner
	cfg.Producer.Flush.Messages = 500
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for i := 0; i < n; i++ {
			row := &domain.StockRow{ProductID: int64(i%50000 + 1), WarehouseID: int64(i%3 + 1), QtySalable: int32(i), Version: uint64(i + 1)}
			v, _ := debeziumtest.EncodeStock(domain.OpUpdate, row, row, debezium.Source{Name: "bench", DB: "inventory", Table: "stock_items", TsMs: time.Now().UnixMilli()}, false, 1)
			k, _ := debeziumtest.EncodeStockKey(debezium.Source{}, row.ProductID, row.WarehouseID, false)
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(k), Value: sarama.ByteEncoder(v)}
		}
	}()
	for i := 0; i < n; i++ {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			b.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}
