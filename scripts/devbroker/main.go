// Command devbroker runs one Kafka-protocol broker (kfake, in memory or in
// a data directory) for scripts/pipeline.sh. It is a local stand-in for
// Kafka, not a production broker.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
)

func main() {
	port := flag.Int("port", 9092, "listen port on 127.0.0.1")
	partitions := flag.Int("partitions", 3, "partitions of the created topics")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	dataDir := flag.String("data-dir", "", "keep topics and offsets in this directory across restarts (empty: memory only)")
	autoCreate := flag.Bool("auto-create", false, "create topics on first use, like auto.create.topics.enable")
	flag.Parse()

	opts := []kafkabroker.Option{kafkabroker.Port(*port), kafkabroker.Partitions(*partitions)}
	var names []string
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			names = append(names, t)
		}
	}
	if len(names) > 0 {
		opts = append(opts, kafkabroker.Topics(int32(*partitions), names...))
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "devbroker:", err)
			os.Exit(1)
		}
		opts = append(opts, kafkabroker.DataDir(*dataDir))
	}
	if *autoCreate {
		opts = append(opts, kafkabroker.AutoCreateTopics())
	}
	b, err := kafkabroker.Start(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
	fmt.Printf("kafka broker listening on %s (topics: %s)\n", strings.Join(b.Addrs(), ","), strings.Join(names, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	b.Close()
}
