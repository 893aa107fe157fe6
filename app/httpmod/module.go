// Package httpmod serves the HTTP API (Gin) for a process that supplies an
// httpapi.Reader and an httpapi.ReadinessChecker.
package httpmod

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/httpapi"
	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Module serves HTTP on --http-addr.
var Module = fx.Module("http",
	fx.Provide(newServer),
	fx.Invoke(func(lc fx.Lifecycle, sh fx.Shutdowner, log *slog.Logger, cfg config.HTTP, srv *http.Server) {
		listen.HTTP(lc, sh, log, "http", cfg.Addr, srv, cfg.ShutdownTimeout)
	}),
)

// Params are the HTTP server's inputs.
type Params struct {
	fx.In
	Config     config.HTTP
	Reader     httpapi.Reader
	Readiness  httpapi.ReadinessChecker
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Tracer     trace.TracerProvider
	Log        *slog.Logger
}

func newServer(p Params) *http.Server {
	engine := httpapi.New(httpapi.Options{
		Reader: p.Reader, Readiness: p.Readiness, Gatherer: p.Gatherer, Registerer: p.Registerer,
		TracerProvider: p.Tracer, Logger: p.Log, RequestTimeout: p.Config.RequestTimeout,
		AccessLog: p.Config.AccessLog, AccessLogSampleEvery: p.Config.AccessLogSample,
	})
	return &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}
