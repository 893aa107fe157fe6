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
)

// HTTP serves srv on addr for the app's lifetime; at stop it finishes
// in-flight requests within grace.
func HTTP(lc fx.Lifecycle, sh fx.Shutdowner, log *slog.Logger, name, addr string, srv *http.Server, grace time.Duration) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
			}
			log.Info(name+" listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error(name+" stopped", "err", err)
					_ = sh.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, grace)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("%s: shutdown: %w", name, err)
			}
			return nil
		},
	})
}
