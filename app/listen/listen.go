// Package listen binds a listener at start (so a taken port fails the start
// with a clear error) and serves it in the background, as fx hooks must not
// block.
package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.uber.org/fx"

	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
)

// HTTP serves srv on addr for the app's lifetime, over TLS when
// srv.TLSConfig is set; at stop it finishes in-flight requests within
// grace and then closes whatever connection is still open, so a client
// that never finishes its request cannot hold the process.
func HTTP(lc fx.Lifecycle, sh fx.Shutdowner, log *slog.Logger, name, addr string, srv *http.Server, grace time.Duration) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
			}
			log.Info(name+" listening", "addr", ln.Addr().String(), "tls", srv.TLSConfig != nil)
			go func() {
				var err error
				if srv.TLSConfig != nil {
					err = srv.ServeTLS(ln, "", "")
				} else {
					err = srv.Serve(ln)
				}
				if err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error(name+" stopped", "err", err)
					_ = sh.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			return Shutdown(ctx, srv, grace, name)
		},
	})
}

// Shutdown stops srv gracefully within grace, then closes the connections
// left (requests still running, bodies still arriving).
func Shutdown(ctx context.Context, srv *http.Server, grace time.Duration, name string) error {
	sctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil // what grace is for; the rest were cut off
		}
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	return nil
}

// ServerTLS loads the listeners' certificate and client CA, or returns nil
// when TLS is not asked for.
func ServerTLS(cfg config.ServerTLS, log *slog.Logger) (*tlsfiles.Server, error) {
	if !cfg.Files().Enabled() {
		return nil, nil
	}
	s, err := tlsfiles.NewServer(cfg.Files(), log.With("component", "tls"))
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key, --tls-client-ca: %w", err)
	}
	return s, nil
}
