// Package grpcmod serves the gRPC API with health and reflection.
package grpcmod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// Module serves gRPC on --grpc-addr.
var Module = fx.Module("grpc", fx.Invoke(run))

// Params are the gRPC server's inputs.
type Params struct {
	fx.In
	Config     config.GRPC
	HTTP       config.HTTP
	Reader     grpcserver.Reader
	Readiness  *readiness.Checker
	Registerer prometheus.Registerer
	Tracer     trace.TracerProvider
	Log        *slog.Logger
	// TLS is nil without --tls-cert.
	TLS *tlsfiles.Server `optional:"true"`
}

func run(lc fx.Lifecycle, sh fx.Shutdowner, p Params) error {
	opts := grpcserver.Options{Logger: p.Log, Registerer: p.Registerer, TracerProvider: p.Tracer, NoReflection: !p.Config.Reflection}
	if p.TLS != nil {
		opts.Creds = credentials.NewTLS(p.TLS.Config("h2"))
	}
	srv, hs, err := grpcserver.New(p.Reader, opts)
	if err != nil {
		return err
	}
	// The health service mirrors /readyz: it turns in the same call that
	// reaches a new verdict, so a node a probe has seen ready is SERVING
	// for the gateway too (hs ignores changes once its shutdown began).
	p.Readiness.Watch(func(ready bool) { grpcserver.SetServing(hs, ready) })
	ctx, cancel := context.WithCancel(telemetry.Untraced(context.Background()))
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(startCtx context.Context) error {
			ln, err := net.Listen("tcp", p.Config.Addr)
			if err != nil {
				cancel()
				return fmt.Errorf("grpc: listen on %s: %w", p.Config.Addr, err)
			}
			// A verdict before the first call: a node in its start gap
			// never reports SERVING, not even for a moment.
			_ = p.Readiness.Ready(telemetry.Untraced(startCtx))
			p.Log.Info("grpc listening", "addr", ln.Addr().String(), "tls", p.TLS != nil, "reflection", p.Config.Reflection)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
					p.Log.Error("grpc stopped", "err", err)
					_ = sh.Shutdown(fx.ExitCode(1))
				}
			}()
			go mirrorReadiness(ctx, done, p.Readiness)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			<-done
			ctx, cancelStop := context.WithTimeout(ctx, p.HTTP.ShutdownTimeout)
			defer cancelStop()
			grpcserver.Shutdown(ctx, srv, hs, p.Config.DrainPeriod)
			return nil
		},
	})
	return nil
}

// mirrorReadiness asks for a verdict every second, so the gRPC health
// status (set by the checker's watcher) follows readiness also when nobody
// probes /readyz: load balancers that watch gRPC see the same answer as
// those probing HTTP.
func mirrorReadiness(ctx context.Context, done chan<- struct{}, r *readiness.Checker) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = r.Ready(cctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
