// Package adminmod serves the operator's endpoints away from the API's
// port: with --admin-addr, /metrics and net/http/pprof; with --pprof-addr
// alone, pprof. Neither ever serves /debug/pprof/cmdline, which would hand
// out the command line and any secret on it.
package adminmod

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Module is a no-op unless --admin-addr or --pprof-addr is set.
var Module = fx.Module("admin",
	fx.Invoke(func(lc fx.Lifecycle, sh fx.Shutdowner, log *slog.Logger, cfg config.HTTP, g prometheus.Gatherer) {
		switch {
		case cfg.AdminAddr != "":
			listen.HTTP(lc, sh, log, "admin", cfg.AdminAddr, NewServer(Handler(g)), time.Second)
		case cfg.PprofAddr != "":
			listen.HTTP(lc, sh, log, "pprof", cfg.PprofAddr, NewServer(Handler(nil)), time.Second)
		}
	}),
)

// Handler serves pprof, and /metrics of g unless g is nil.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// NewServer bounds slow clients like the API's server does, with room for
// the profiles that take their time (profile and trace default to 30 s and
// may ask for more, up to the write timeout).
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}
