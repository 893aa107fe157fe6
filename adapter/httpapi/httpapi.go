// Package httpapi is the inbound HTTP adapter: inventory reads, health,
// readiness and metrics on a Gin engine.
package httpapi

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/httpapi/middleware"
	"github.com/gintoki/gintoki/domain"
)

// Reader answers inventory reads; the read use case implements it.
type Reader interface {
	GetProductInventory(ctx context.Context, productID int64) (domain.ProductInventory, error)
	BatchGetProductInventory(ctx context.Context, productIDs []int64) (domain.BatchResult, error)
	// The same, bounded by a read-after token (X-Read-After-GTID): the
	// answer reflects its transactions, and says where it came from.
	GetProductInventoryAfter(ctx context.Context, productID int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error)
	BatchGetProductInventoryAfter(ctx context.Context, productIDs []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error)
}

// ReadinessChecker reports whether the instance should get traffic: nil
// means ready, otherwise the error text says why not.
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

// Options configures New. Every field may be left zero.
type Options struct {
	// Reader serves the inventory routes; nil answers them with 503.
	Reader Reader
	// Readiness backs /readyz; nil means always ready.
	Readiness ReadinessChecker
	// Gatherer is served on /metrics; nil leaves /metrics unregistered.
	Gatherer prometheus.Gatherer
	// Registerer receives the HTTP metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// TracerProvider traces the API routes; nil (or the no-op provider)
	// turns tracing off.
	TracerProvider trace.TracerProvider
	// Logger receives errors, panics and the access log; nil discards.
	Logger *slog.Logger
	// RequestTimeout bounds each API request; default 5s.
	RequestTimeout time.Duration
	// AccessLog turns the sampled access log on.
	AccessLog bool
	// AccessLogSampleEvery logs 1 request in N; default 100.
	AccessLogSampleEvery int
}

// Defaults applied by New to zero Options fields.
const (
	DefaultRequestTimeout       = 5 * time.Second
	DefaultAccessLogSampleEvery = 100
)

// Route patterns; they are also the values of the metrics' route label.
const (
	RouteCache          = "/cache"
	RouteProductByID    = "/v1/products/:id/inventory"
	RouteBatchInventory = "/v1/product-inventory"
	RouteHealthz        = "/healthz"
	RouteReadyz         = "/readyz"
	RouteMetrics        = "/metrics"
)

// serviceName names the server in trace spans.
const serviceName = "gintoki"

var releaseModeOnce sync.Once

// useReleaseMode switches Gin out of its default debug mode, which prints
// every route and a warning to stdout, unless the process asked for a mode
// through GIN_MODE or gin.SetMode already.
func useReleaseMode() {
	releaseModeOnce.Do(func() {
		if gin.Mode() == gin.DebugMode && os.Getenv(gin.EnvGinMode) == "" {
			gin.SetMode(gin.ReleaseMode)
		}
	})
}

// New builds the engine with every route and its middleware.
func New(opts Options) *gin.Engine {
	useReleaseMode()
	opts = withDefaults(opts)

	engine := gin.New()
	engine.HandleMethodNotAllowed = true
	// An API client should get a clear 404, not a redirect to follow.
	engine.RedirectTrailingSlash = false
	engine.RedirectFixedPath = false
	// Behind an L4 balancer no proxy header is trustworthy; ClientIP (used
	// in spans) is then the peer address. A nil list cannot fail to parse.
	_ = engine.SetTrustedProxies(nil)

	metrics, err := middleware.NewHTTPMetrics(opts.Registerer)
	if err != nil {
		opts.Logger.Warn("http metrics are not exported", slog.Any("error", err))
	}
	r := &router{
		engine:    engine,
		requestID: middleware.RequestID(),
		scope:     middleware.RequestScope(opts.RequestTimeout),
		tracing:   middleware.Tracing(serviceName, opts.TracerProvider),
		metrics:   metrics,
		recovery:  middleware.Recovery(opts.Logger, respondPanic),
	}
	if opts.AccessLog {
		r.accessLog = middleware.NewAccessLog(opts.Logger, opts.AccessLogSampleEvery)
	}

	inv := &inventoryHandlers{reader: opts.Reader, logger: opts.Logger}
	r.handle("GET", RouteCache, apiRoute, inv.getByQuery)
	r.handle("GET", RouteProductByID, apiRoute, inv.getByPath)
	r.handle("POST", RouteBatchInventory, apiRoute, inv.batch)

	r.handle("GET", RouteHealthz, probeRoute, healthz)
	r.handle("GET", RouteReadyz, probeRoute, readyz(opts.Readiness))
	if opts.Gatherer != nil {
		r.handle("GET", RouteMetrics, probeRoute, metricsHandler(opts.Gatherer, opts.Logger))
	}

	engine.NoRoute(r.chain(middleware.RouteUnmatched, probeRoute, noRoute)...)
	engine.NoMethod(r.chain(middleware.RouteUnmatched, probeRoute, noMethod)...)
	return engine
}

func withDefaults(opts Options) Options {
	if opts.Reader == nil {
		opts.Reader = unconfiguredReader{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.AccessLogSampleEvery <= 0 {
		opts.AccessLogSampleEvery = DefaultAccessLogSampleEvery
	}
	return opts
}

// routeKind says which middleware a route gets: probes and /metrics are
// polled every few seconds and would only flood the trace backend, and they
// bound their own work.
type routeKind int

const (
	apiRoute routeKind = iota
	probeRoute
)

// router builds each route's own middleware chain, so per-route state (the
// metric children, the route name) is resolved once at registration.
type router struct {
	engine    *gin.Engine
	requestID gin.HandlerFunc
	tracing   gin.HandlerFunc // nil: tracing off
	metrics   *middleware.HTTPMetrics
	accessLog *middleware.AccessLog // nil: access log off
	recovery  gin.HandlerFunc
	// scope is the request id plus the request deadline, for API routes;
	// probes take requestID alone and bound their own work.
	scope gin.HandlerFunc
}

func (r *router) handle(method, route string, kind routeKind, h gin.HandlerFunc) {
	r.engine.Handle(method, route, r.chain(route, kind, h)...)
}

// chain orders the middleware so that everything outside recovery sees the
// final status, including the 500 written after a panic.
func (r *router) chain(route string, kind routeKind, h gin.HandlerFunc) []gin.HandlerFunc {
	first := r.requestID
	if kind == apiRoute {
		first = r.scope
	}
	chain := []gin.HandlerFunc{first}
	if kind == apiRoute && r.tracing != nil {
		chain = append(chain, r.tracing)
	}
	chain = append(chain, r.metrics.Route(route))
	if r.accessLog != nil {
		chain = append(chain, r.accessLog.Route(route))
	}
	chain = append(chain, r.recovery)
	return append(chain, h)
}

// unconfiguredReader keeps a wiring mistake from becoming a nil-pointer
// panic per request.
type unconfiguredReader struct{}

func (unconfiguredReader) GetProductInventory(context.Context, int64) (domain.ProductInventory, error) {
	return domain.ProductInventory{}, domain.Unavailablef("inventory reader is not configured")
}

func (unconfiguredReader) BatchGetProductInventory(context.Context, []int64) (domain.BatchResult, error) {
	return domain.BatchResult{}, domain.Unavailablef("inventory reader is not configured")
}

func (r unconfiguredReader) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := r.GetProductInventory(ctx, id)
	return inv, 0, err
}

func (r unconfiguredReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := r.BatchGetProductInventory(ctx, ids)
	return res, 0, err
}
