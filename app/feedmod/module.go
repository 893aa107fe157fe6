// Package feedmod runs the change feed of a read node: the Kafka consumer
// applying Debezium events to the cache, and the tracker deciding when the
// cache may be used. Without --kafka-brokers it does nothing.
package feedmod

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// Module starts the consumer when --kafka-brokers is set.
var Module = fx.Module("changefeed",
	fx.Provide(
		newTracker,
		fx.Annotate(readinessCondition, fx.ResultTags(`group:"readiness"`)),
	),
	fx.Invoke(run),
)

// newTracker returns nil without a feed: the cache then runs on TTL alone.
func newTracker(cfg config.Kafka, svc *inventory.Service, reg prometheus.Registerer, log *slog.Logger) (*changefeed.Tracker, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	t := changefeed.NewTracker(svc, cfg.MaxStaleness, log.With("component", "changefeed"))
	if err := telemetry.GaugeFunc(reg, "gintoki_cdc_state", "Change feed state: 0 starting, 1 catching up, 2 live, 3 stale (cache bypassed).",
		func() float64 { return float64(t.State()) }); err != nil {
		return nil, err
	}
	return t, nil
}

func readinessCondition(t *changefeed.Tracker) readiness.Condition {
	return func() error {
		if t == nil {
			return nil
		}
		return t.Ready()
	}
}

// Params are the feed's inputs.
type Params struct {
	fx.In
	Kafka      config.Kafka
	DB         config.DB
	Service    *inventory.Service
	Tracker    *changefeed.Tracker
	Registerer prometheus.Registerer
	Tracer     trace.TracerProvider
	Log        *slog.Logger
}

func run(lc fx.Lifecycle, p Params) error {
	if p.Tracker == nil {
		return nil
	}
	db := p.Kafka.Database
	if db == "" {
		dsn, err := database.ParseDSN(p.DB.DSN)
		if err != nil {
			return fmt.Errorf("--cdc-database: %w", err)
		}
		db = dsn.Database
	}
	cfg := kafkaconsumer.Config{
		Brokers:        p.Kafka.Brokers,
		Group:          p.Kafka.Group,
		Version:        p.Kafka.Version,
		ClientID:       p.Kafka.ClientID,
		StockTopic:     kafkaconsumer.TopicName(p.Kafka.TopicPrefix, db, "stock_items"),
		WarehouseTopic: kafkaconsumer.TopicName(p.Kafka.TopicPrefix, db, "warehouses"),
		ControlTopic:   controlTopic(p.Kafka),
		TLS: kafkaconsumer.TLSConfig{Enable: p.Kafka.TLS, CAFile: p.Kafka.TLSCAFile, CertFile: p.Kafka.TLSCertFile,
			KeyFile: p.Kafka.TLSKeyFile, InsecureSkipVerify: p.Kafka.TLSInsecureSkipVer},
		SASL: kafkaconsumer.SASLConfig{Mechanism: p.Kafka.SASLMechanism, User: p.Kafka.SASLUser, Password: p.Kafka.SASLPassword},
	}
	consumer, err := kafkaconsumer.New(cfg, p.Service, p.Tracker, kafkaconsumer.Options{
		Logger: p.Log, Registerer: p.Registerer, TracerProvider: p.Tracer,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ticked := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(startCtx context.Context) error {
			p.Log.Info("change feed starting", "brokers", cfg.Brokers, "group", cfg.Group,
				"stock_topic", cfg.StockTopic, "warehouse_topic", cfg.WarehouseTopic, "control_topic", cfg.ControlTopic, "max_staleness", p.Kafka.MaxStaleness)
			go tick(ctx, ticked, p.Tracker)
			return consumer.Start(startCtx)
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			<-ticked
			return consumer.Stop(stopCtx)
		},
	})
	return nil
}

// controlTopic is the fleet control topic of the configuration, "" for none.
func controlTopic(k config.Kafka) string {
	switch k.ControlTopic {
	case "":
		return fleetcontrol.Topic(k.TopicPrefix)
	case "off":
		return ""
	}
	return k.ControlTopic
}

// tick lets the tracker notice silence: staleness is measured, not reported.
func tick(ctx context.Context, done chan<- struct{}, t *changefeed.Tracker) {
	defer close(done)
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.Tick()
		}
	}
}
