package middleware

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/infrastructure/telemetry"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// RouteUnmatched is the route label of requests no route matched: the raw
// path would let any client create new time series.
const RouteUnmatched = "unmatched"

// HTTPMetrics counts requests by route and status code and times them by
// route.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics creates the collectors and registers them with reg (nil:
// not registered). Collectors already registered by an earlier call are
// reused, so two engines can share one registry. On any other registration
// error the returned value still works, its series just are not exported.
func NewHTTPMetrics(reg prometheus.Registerer) (*HTTPMetrics, error) {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gintoki_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gintoki_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern.",
			// Cache hits take microseconds; the default buckets start at 5ms.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	if existing, err := telemetry.Register(reg, m.requests); err != nil {
		errs = append(errs, err)
	} else {
		m.requests = existing
	}
	if existing, err := telemetry.Register(reg, m.duration); err != nil {
		errs = append(errs, err)
	} else {
		m.duration = existing
	}
	return m, errors.Join(errs...)
}

// codeCounters covers every valid status code, so a counter is resolved
// once per route and code and then found by index.
const codeCounters = 1000

type routeMetrics struct {
	route    string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	byCode   [codeCounters]atomic.Pointer[prometheus.Counter]
}

func (r *routeMetrics) counter(code int) prometheus.Counter {
	if code < 0 || code >= codeCounters {
		return r.requests.WithLabelValues(r.route, strconv.Itoa(code))
	}
	if c := r.byCode[code].Load(); c != nil {
		return *c
	}
	// Resolved on first use rather than up front, so a route only exports
	// the codes it has answered; WithLabelValues returns the same child for
	// the same labels, so racing first uses agree.
	c := r.requests.WithLabelValues(r.route, strconv.Itoa(code))
	r.byCode[code].Store(&c)
	return c
}

// Route returns the middleware for one registered route pattern (or
// RouteUnmatched). Its histogram child is resolved here, once.
func (m *HTTPMetrics) Route(route string) gin.HandlerFunc {
	r := &routeMetrics{
		route:    route,
		requests: m.requests,
		duration: m.duration.WithLabelValues(route),
	}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		r.duration.Observe(time.Since(start).Seconds())
		r.counter(c.Writer.Status()).Inc()
	}
}
