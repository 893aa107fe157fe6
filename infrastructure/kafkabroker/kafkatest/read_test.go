package kafkatest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

// Six messages over three partitions come back whole, in partition and
// offset order, by count and by end offset; asking for more than the topic
// holds fails when the context ends, saying how many arrived.
func TestReadsEveryPartitionInOrder(t *testing.T) {
	broker, err := kafkabroker.Start(kafkabroker.Topics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(broker.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := range 6 {
		msg := &sarama.ProducerMessage{Topic: "t", Partition: int32(2 - i%3), Value: sarama.StringEncoder(strconv.Itoa(i))}
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
	// Message i went to partition 2-i%3, so partition 0 holds 2 and 5.
	want := []string{"0/0:2", "0/1:5", "1/0:1", "1/1:4", "2/0:0", "2/1:3"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check := func(how string, got []*sarama.ConsumerMessage, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		var seen []string
		for _, m := range got {
			seen = append(seen, strconv.Itoa(int(m.Partition))+"/"+strconv.FormatInt(m.Offset, 10)+":"+string(m.Value))
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: got %v, want %v", how, seen, want)
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Fatalf("%s: got %v, want %v", how, seen, want)
			}
		}
	}
	got, err := kafkatest.Read(ctx, broker.Addrs(), "t", 6)
	check("Read", got, err)
	got, err = kafkatest.ReadToEnd(ctx, broker.Addrs(), "t")
	check("ReadToEnd", got, err)
	if n, err := kafkatest.TopicSize(broker.Addrs(), "t"); err != nil || n != 6 {
		t.Fatalf("TopicSize = %d, %v; want 6", n, err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if got, err := kafkatest.Read(short, broker.Addrs(), "t", 7); err == nil || len(got) != 6 {
		t.Fatalf("reading 7 of 6 messages: got %d, %v; want 6 and an error", len(got), err)
	}
}
