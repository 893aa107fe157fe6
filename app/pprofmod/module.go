// Package pprofmod serves net/http/pprof on its own address, only when
// --pprof-addr is set, so profiling endpoints never share the API's port.
package pprofmod

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/fx"

	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Module is a no-op unless --pprof-addr is set.
var Module = fx.Module("pprof",
	fx.Invoke(func(lc fx.Lifecycle, sh fx.Shutdowner, log *slog.Logger, cfg config.HTTP) {
		if cfg.PprofAddr == "" {
			return
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		listen.HTTP(lc, sh, log, "pprof", cfg.PprofAddr, srv, time.Second)
	}),
)
