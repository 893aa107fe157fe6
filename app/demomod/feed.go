package demomod

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/simulator"
	"github.com/prometheus/client_golang/prometheus"
)

// FeedConfig is the demo's live change feed.
type FeedConfig struct {
	// Rate is simulated changes per second; 0 turns the simulator off.
	Rate float64
	// ChangedProducts bounds the products the simulator changes (1..N), so a
	// curl loop over a few ids shows them move.
	ChangedProducts int
	Warehouses      int
	// Kafka holds the consumer settings the demo keeps (staleness, group);
	// brokers, prefix and database are the demo's own.
	Kafka config.Kafka
	DB    config.DB
}

// Feed runs an in-process Kafka-protocol broker and a change simulator
// publishing Debezium events, and provides the config.Kafka the read node's
// consumer uses, pointed at that broker.
var Feed = fx.Module("demo-feed",
	fx.Provide(startBroker),
	fx.Invoke(runSimulator),
)

func startBroker(lc fx.Lifecycle, cfg FeedConfig) (*kafkabroker.Broker, config.Kafka, error) {
	dsn, err := database.ParseDSN(cfg.DB.DSN)
	if err != nil {
		return nil, config.Kafka{}, err
	}
	k := cfg.Kafka
	if k.TopicPrefix == "" {
		k.TopicPrefix = "gintoki"
	}
	k.Database = dsn.Database
	// The simulator writes no heartbeats, and it lives and dies with this
	// process: there is no source apart from the node to watch.
	k.HeartbeatTopic, k.SourceHeartbeats = "off", "off"
	b, err := kafkabroker.Start(kafkabroker.Topics(3,
		kafkaconsumer.TopicName(k.TopicPrefix, k.Database, "stock_items"),
		kafkaconsumer.TopicName(k.TopicPrefix, k.Database, "warehouses")))
	if err != nil {
		return nil, config.Kafka{}, fmt.Errorf("demo: start in-process broker: %w", err)
	}
	lc.Append(fx.StopHook(b.Close))
	k.Brokers = b.Addrs()
	return b, k, nil
}

func runSimulator(lc fx.Lifecycle, cfg FeedConfig, k config.Kafka, _ *kafkabroker.Broker, repo *gormrepo.Repository, tp trace.TracerProvider, reg prometheus.Registerer, log *slog.Logger) error {
	if cfg.Rate <= 0 {
		return nil
	}
	pub, err := kafkaproducer.New(kafkaproducer.Config{
		Brokers: k.Brokers, Version: k.Version, ClientID: "gintoki-demo-simulator",
		TopicPrefix: k.TopicPrefix, Database: k.Database, WithSchema: true,
	}, kafkaproducer.WithTracerProvider(tp), kafkaproducer.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("demo: producer: %w", err)
	}
	sim, err := simulator.New(simulator.Config{Rate: cfg.Rate, Products: cfg.ChangedProducts, Warehouses: cfg.Warehouses},
		repo, pub, log.With("component", "simulator"), simulator.WithTracerProvider(tp))
	if err != nil {
		_ = pub.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() { defer close(done); _ = sim.Run(ctx) }()
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			<-done
			return pub.Close()
		},
	})
	return nil
}
