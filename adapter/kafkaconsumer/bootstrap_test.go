package kafkaconsumer

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

// A topic can bootstrap the cache when it holds every row: nothing deleted
// from its start, or compacted. One that lost records to retention and is
// not compacted cannot, and says why; one that does not exist yet can (it
// will be read from its start).
func TestBootstrapUnfitTopics(t *testing.T) {
	broker, err := kafkabroker.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	brokers := broker.Addrs()
	admin, err := sarama.NewClusterAdmin(brokers, testSaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	compact := "compact"
	for _, tc := range []struct {
		topic   string
		configs map[string]*string
	}{{"whole", nil}, {"retained", nil}, {"compacted", map[string]*string{"cleanup.policy": &compact}}} {
		if err := admin.CreateTopic(tc.topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: tc.configs}, false); err != nil {
			t.Fatal(err)
		}
	}
	producer, err := sarama.NewSyncProducer(brokers, testSaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, topic := range []string{"whole", "retained", "compacted"} {
		for i := 0; i < 5; i++ {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("v")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, topic := range []string{"retained", "compacted"} {
		if err := kafkatest.DeleteRecords(brokers, topic, map[int32]int64{0: 3}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := sarama.NewClient(brokers, testSaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tc := range []struct{ topic, want string }{
		{"whole", ""}, {"compacted", ""}, {"not-created-yet", ""},
		{"retained", "topic retained partition 0 starts at offset 3 and is not compacted (cleanup.policy=delete)"},
	} {
		why, err := bootstrapUnfit(client, tc.topic)
		if err != nil {
			t.Fatalf("%s: %v", tc.topic, err)
		}
		if tc.want == "" && why != "" || tc.want != "" && !strings.Contains(why, tc.want) {
			t.Errorf("%s: %q, want %q", tc.topic, why, tc.want)
		}
	}
}

func testSaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Metadata.AllowAutoTopicCreation = false
	return cfg
}
