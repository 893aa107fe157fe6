// Package gatewaymod provides the HTTP API's reader and readiness from the
// remote read nodes reached over gRPC.
package gatewaymod

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/grpcclient"
	"github.com/gintoki/gintoki/adapter/grpcclient/fleet"
	"github.com/gintoki/gintoki/adapter/httpapi"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Config is the gateway's backends.
type Config struct{ Backends []string }

// Register adds the gateway flags.
func (c *Config) Register(s *config.Set) {
	s.List(&c.Backends, "backend", "localhost:9090",
		"gRPC read nodes (`gintoki serve`) to call: host:port (one node) or dns:///name:port (every address of the name); calls go round robin to the nodes reporting SERVING")
	s.Check(func() error {
		if len(c.Backends) == 0 {
			return fmt.Errorf("--backend is required")
		}
		if _, err := fleet.ParseTargets(c.Backends); err != nil {
			return fmt.Errorf("--backend: %v", err)
		}
		return nil
	})
}

// Module provides httpapi.Reader and httpapi.ReadinessChecker.
var Module = fx.Module("gateway",
	fx.Provide(
		dial,
		func(f *fleet.Fleet) httpapi.Reader { return grpcclient.New(f.Conn()) },
		func(f *fleet.Fleet) httpapi.ReadinessChecker { return f },
	),
)

func dial(lc fx.Lifecycle, cfg Config, tp trace.TracerProvider, reg prometheus.Registerer, log *slog.Logger) (*fleet.Fleet, error) {
	f, err := fleet.Dial(cfg.Backends, fleet.Options{
		Credentials:    nil, // plaintext
		TracerProvider: tp,
		Registerer:     reg,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	lc.Append(fx.StopHook(f.Close))
	return f, nil
}
