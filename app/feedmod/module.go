// Package feedmod runs the change feed of a read node: the Kafka consumer
// applying Debezium events to the cache, and the tracker deciding when the
// cache may be used. Without --kafka-brokers it does nothing.
package feedmod

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/adapter/kafkaauth"
	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/pace"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// Module is the change feed of a node that has one (enabled): the tracker
// and the consumer. Without one, the cache runs on its TTL alone and the
// feed puts no condition on readiness.
func Module(enabled bool) fx.Option {
	if !enabled {
		return fx.Module("changefeed",
			fx.Provide(fx.Annotate(func() readiness.Condition { return func() error { return nil } }, fx.ResultTags(`group:"readiness"`))))
	}
	return fx.Module("changefeed",
		fx.Provide(
			newTracker,
			fx.Annotate(readinessCondition, fx.ResultTags(`group:"readiness"`)),
		),
		fx.Invoke(run),
	)
}

func newTracker(cfg config.Kafka, dbc config.DB, sc config.Schema, svc *inventory.Upkeep, reg prometheus.Registerer, log *slog.Logger) (*changefeed.Tracker, error) {
	policy, err := heartbeatPolicy(cfg)
	if err != nil {
		return nil, err
	}
	topics, err := tableTopics(cfg, dbc, sc)
	if err != nil {
		return nil, err
	}
	t := changefeed.NewTracker(svc, cfg.MaxStaleness, log.With("component", "changefeed"),
		changefeed.WithHeartbeats(policy), changefeed.WithPositions(topics.stock, topics.warehouse))
	svc.SetFeedClock(t.LastSign)
	// The source's heartbeats may say how far it has published (gintoki
	// relay's do): reads with a read-after token then answer from the
	// cache once the feed has applied the token.
	svc.SetFeedPosition(t)
	for _, g := range []struct {
		name, help string
		value      func() float64
	}{
		{"gintoki_cdc_state", "Change feed state: 0 starting, 1 catching up, 2 live, 3 stale (cache bypassed).",
			func() float64 { return float64(t.State()) }},
		{"gintoki_cdc_source_heartbeats", "1 while the source's heartbeats are required (--source-heartbeats required, or auto once one was read), so a silent source bypasses the cache; 0 otherwise.",
			func() float64 {
				if _, on := t.HeartbeatAge(); on {
					return 1
				}
				return 0
			}},
		{"gintoki_cdc_heartbeat_age_seconds", "Seconds since the source's last heartbeat arrived (since the start before the first).",
			func() float64 { age, _ := t.HeartbeatAge(); return age.Seconds() }},
		{"gintoki_cdc_source_positions", "1 while the source's heartbeats say how far it has published (gintoki relay; one arrived within --max-staleness), so reads with X-Read-After-GTID can be answered from the cache; 0 otherwise (Debezium, or none yet).",
			func() float64 {
				if t.PositionsReported() {
					return 1
				}
				return 0
			}},
		{"gintoki_cdc_applied_position_age_seconds", "Seconds since the source sent the position this node has proven its cache reflects (every transaction up to it applied); NaN while none is proven.",
			func() float64 {
				if age, ok := t.AppliedAge(); ok {
					return age.Seconds()
				}
				return math.NaN()
			}},
	} {
		if err := telemetry.GaugeFunc(reg, g.name, g.help, g.value); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// heartbeatPolicy reads --source-heartbeats; without a heartbeat topic
// there is nothing to require.
func heartbeatPolicy(cfg config.Kafka) (changefeed.HeartbeatPolicy, error) {
	if heartbeatTopic(cfg) == "" {
		return changefeed.HeartbeatsOff, nil
	}
	p, err := changefeed.ParseHeartbeatPolicy(cfg.SourceHeartbeats)
	if err != nil {
		return 0, fmt.Errorf("--source-heartbeats: %w", err)
	}
	return p, nil
}

// heartbeatTopic is the topic heartbeats are read from; "" when they are
// off.
func heartbeatTopic(cfg config.Kafka) string {
	if cfg.SourceHeartbeats == "off" {
		return ""
	}
	return derivedTopic(cfg.HeartbeatTopic, debezium.HeartbeatTopic(cfg.TopicPrefix))
}

// readinessCondition ends the start gap once the feed has been live; what
// the feed does later shows in the cache bypass, not in readiness (see
// usecase/readiness).
func readinessCondition(t *changefeed.Tracker) readiness.Condition {
	return t.Started
}

// Params are the feed's inputs.
type Params struct {
	fx.In
	Kafka      config.Kafka
	DB         config.DB
	Schema     config.Schema
	Cache      config.Cache
	Changes    *inventory.Changes
	Upkeep     *inventory.Upkeep
	Tracker    *changefeed.Tracker
	Registerer prometheus.Registerer
	Tracer     trace.TracerProvider
	Log        *slog.Logger
}

// feedTopics are the change topics a node applies.
type feedTopics struct{ stock, warehouse string }

// tableTopics names the topics of the mapping's tables in --cdc-database
// (default: the database of --db); warehouse is "" without a warehouses
// table.
func tableTopics(k config.Kafka, dbc config.DB, sc config.Schema) (feedTopics, error) {
	db := k.Database
	if db == "" {
		dsn, err := database.ParseDSN(dbc.DSN)
		if err != nil {
			return feedTopics{}, fmt.Errorf("--cdc-database: %w", err)
		}
		db = dsn.Database
	}
	m := sc.Mapping
	topics := feedTopics{stock: kafkaconsumer.TopicName(k.TopicPrefix, db, m.Stock.Table)}
	if m.Warehouses != nil {
		topics.warehouse = kafkaconsumer.TopicName(k.TopicPrefix, db, m.Warehouses.Table)
	}
	return topics, nil
}

func run(lc fx.Lifecycle, p Params) error {
	topics, err := tableTopics(p.Kafka, p.DB, p.Schema)
	if err != nil {
		return err
	}
	policy, err := heartbeatPolicy(p.Kafka)
	if err != nil {
		return err
	}
	decoder, err := debezium.NewDecoder(p.Schema.Mapping)
	if err != nil {
		return fmt.Errorf("--schema: %w", err)
	}
	auth := kafkaauth.FromSettings(p.Kafka.KafkaSecurity)
	cfg := kafkaconsumer.Config{
		Brokers:        p.Kafka.Brokers,
		Group:          p.Kafka.Group,
		Version:        p.Kafka.Version,
		ClientID:       p.Kafka.ClientID,
		StockTopic:     topics.stock,
		WarehouseTopic: topics.warehouse,
		Decoder:        decoder,
		Bootstrap:      p.Cache.FromTopics(),
		ControlTopic:   derivedTopic(p.Kafka.ControlTopic, fleetcontrol.Topic(p.Kafka.TopicPrefix)),
		HeartbeatTopic: heartbeatTopic(p.Kafka),
		TLS:            auth.TLS,
		SASL:           auth.SASL,
	}
	consumer, err := kafkaconsumer.New(cfg, p.Changes, p.Tracker, kafkaconsumer.Options{
		Logger: p.Log, Registerer: p.Registerer, TracerProvider: p.Tracer,
		BootstrapRefused: func(string) { p.Upkeep.AbandonBootstrap() },
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ticked := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(startCtx context.Context) error {
			p.Log.Info("change feed starting", "brokers", cfg.Brokers, "group", cfg.Group,
				"stock_topic", cfg.StockTopic, "warehouse_topic", cfg.WarehouseTopic, "control_topic", cfg.ControlTopic,
				"heartbeat_topic", cfg.HeartbeatTopic, "source_heartbeats", policy.String(), "max_staleness", p.Kafka.MaxStaleness)
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

// derivedTopic reads a topic flag: "" is the default name, "off" none.
func derivedTopic(flag, def string) string {
	switch flag {
	case "":
		return def
	case "off":
		return ""
	}
	return flag
}

// tick lets the tracker notice silence: staleness is measured, not reported.
func tick(ctx context.Context, done chan<- struct{}, t *changefeed.Tracker) {
	defer close(done)
	pace.Every(ctx, 500*time.Millisecond, func() bool { t.Tick(); return true })
}
