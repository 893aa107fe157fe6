// Package gatewaymod provides the HTTP API's reader and readiness from a
// remote read node reached over gRPC.
package gatewaymod

import (
	"fmt"
	"net"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gintoki/gintoki/adapter/grpcclient"
	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/adapter/httpapi"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Config is the gateway's backend.
type Config struct{ Backend string }

// Register adds the gateway flags.
func (c *Config) Register(s *config.Set) {
	s.String(&c.Backend, "backend", "localhost:9090", "gRPC address of the `gintoki serve` to call (host:port; dns:/// targets balance over every address)")
	s.Check(func() error {
		if c.Backend == "" {
			return fmt.Errorf("--backend is required")
		}
		if _, _, err := net.SplitHostPort(c.Backend); err != nil && !hasScheme(c.Backend) {
			return fmt.Errorf("--backend %q is not host:port: %v", c.Backend, err)
		}
		return nil
	})
}

func hasScheme(target string) bool {
	for i := 0; i+2 < len(target); i++ {
		if target[i] == ':' && target[i+1] == '/' && target[i+2] == '/' {
			return i > 0
		}
	}
	return false
}

// Module provides httpapi.Reader and httpapi.ReadinessChecker.
var Module = fx.Module("gateway",
	fx.Provide(
		backendCredentials,
		dial,
		func(conn *grpc.ClientConn) httpapi.Reader { return grpcclient.New(conn) },
		func(conn *grpc.ClientConn) httpapi.ReadinessChecker {
			return grpcclient.NewBackendHealth(conn, grpcserver.ServiceName)
		},
	),
)

func dial(lc fx.Lifecycle, cfg Config, tp trace.TracerProvider, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	conn, err := grpcclient.Dial(cfg.Backend, tp, creds)
	if err != nil {
		return nil, fmt.Errorf("gateway: dial %s: %w", cfg.Backend, err)
	}
	lc.Append(fx.StopHook(conn.Close))
	return conn, nil
}
