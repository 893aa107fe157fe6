// Package relaymod runs `gintoki relay`: change-data capture from the
// MySQL/MariaDB binlog to Debezium-format Kafka topics, with its metrics
// and health endpoints.
package relaymod

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/binlog"
	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/usecase/relay"
)

// Module runs the relay of a supplied Config. It needs *slog.Logger,
// prometheus.Registerer and prometheus.Gatherer (telemetrymod provides
// them).
//
// A relay that meets what reconnecting cannot fix (a purged binlog, a table
// it cannot decode, a missing grant; at start or later) stops for good: it
// logs one ERROR with the reason and the fix, and the process stays up with
// /metrics saying so (gintoki_relay_stopped{reason} 1, state stopped),
// /readyz 503 with the reason and /healthz 200, so the stop is seen and
// alerted on rather than lost in a restart loop. It exits only when told
// to, then with a failure status.
var Module = fx.Module("relay",
	fx.Provide(provideRelay),
	fx.Invoke(run, serveOps),
)

func provideRelay(lc fx.Lifecycle, c Config, reg prometheus.Registerer, log *slog.Logger) (*relay.Relay, error) {
	log = log.With("component", "relay")
	binlog.RouteLibraryLogs(log)
	r, cleanup, err := newRelay(c, reg, log)
	if err != nil {
		return nil, err
	}
	// Appended first, so it runs after run's stop hook has waited for
	// the relay to finish with the producer and the store.
	lc.Append(fx.StopHook(cleanup))
	return r, nil
}

func run(lc fx.Lifecycle, c Config, r *relay.Relay, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(startCtx context.Context) error {
			dsn, _ := database.ParseDSN(c.DSN)
			log.Info("relay starting", "db", dsn.Redacted(), "server_id", c.EffectiveServerID(), "tables", c.Tables,
				"brokers", c.Brokers, "topic_prefix", c.TopicPrefix, "snapshot", c.Snapshot, "checkpoint_topic", c.CheckpointTopic,
				"new_topic_partitions", c.TopicPartitions, "new_topic_replication", c.TopicReplication)
			// Settings and grants are checked before the start returns, so
			// the log says at once what is wrong; Run ends with a failure
			// that retrying cannot fix, and an unreachable server is left
			// to its retries.
			if err := r.Check(startCtx); err != nil && !relay.IsPermanent(err) {
				log.Warn("relay: source not reachable yet; retrying in the background", "err", err)
			}
			go func() {
				defer close(done)
				if err := r.Run(ctx); err != nil {
					reason, _ := r.Halted()
					log.Error("relay stopped for good: it reads no more changes; the process stays up, not ready, until SIGTERM",
						"reason", reason, "err", err, "fix", reason.Fix())
				}
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stopCtx.Done():
				return fmt.Errorf("relay did not stop in time: %w", stopCtx.Err())
			}
			// The exit status tells an orchestrator the relay had failed.
			if reason, err := r.Halted(); err != nil {
				return fmt.Errorf("the relay had stopped for good (%s): %w", reason, err)
			}
			return nil
		},
	})
}

// readiness is what /readyz asks.
type readiness interface{ Ready() error }

// serveOps serves /metrics, /healthz and /readyz (ready while streaming)
// on --metrics-addr.
func serveOps(lc fx.Lifecycle, sh fx.Shutdowner, c Config, r *relay.Relay, g prometheus.Gatherer, log *slog.Logger) {
	if c.MetricsAddr == "" {
		return
	}
	srv := &http.Server{Handler: opsHandler(g, r), ReadHeaderTimeout: 5 * time.Second}
	listen.HTTP(lc, sh, log, "relay metrics", c.MetricsAddr, srv, time.Second)
}

func opsHandler(g prometheus.Gatherer, r readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
