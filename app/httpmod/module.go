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
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
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
	// TLS is nil without --tls-cert.
	TLS *tlsfiles.Server `optional:"true"`
}

// How long a client may take over the parts of a request the handlers do
// not bound themselves. Reading the whole request (headers and body) gets
// the request timeout on top of the header allowance, and writing the
// answer a little more, so a client that stalls mid-body, or stops reading
// the answer, loses its connection soon after its request timed out.
const (
	readHeaderTimeout = 5 * time.Second
	writeSlack        = 5 * time.Second
	idleTimeout       = 2 * time.Minute
)

func newServer(p Params) *http.Server {
	gatherer := p.Gatherer
	if p.Config.AdminAddr != "" {
		gatherer = nil // /metrics lives on the admin listener only
	}
	engine := httpapi.New(httpapi.Options{
		Reader: p.Reader, Readiness: p.Readiness, Gatherer: gatherer, Registerer: p.Registerer,
		TracerProvider: p.Tracer, Logger: p.Log, RequestTimeout: p.Config.RequestTimeout,
		AccessLog: p.Config.AccessLog, AccessLogSampleEvery: p.Config.AccessLogSample,
	})
	srv := &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readHeaderTimeout + p.Config.RequestTimeout,
		WriteTimeout:      p.Config.RequestTimeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.Log.Handler(), slog.LevelDebug),
	}
	if p.TLS != nil {
		srv.TLSConfig = p.TLS.Config("h2", "http/1.1")
	}
	return srv
}
