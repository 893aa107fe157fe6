package grpcserver

import (
	"context"
	"time"

	"github.com/gintoki/gintoki/infrastructure/telemetry"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metric names; exported so dashboards and tests do not repeat strings.
const (
	RequestsTotalName   = "gintoki_grpc_requests_total"
	RequestDurationName = "gintoki_grpc_request_duration_seconds"
)

// durationBuckets reach down to 50µs because a cache hit answers in tens of
// microseconds, and up to a few seconds for DB reads under load.
var durationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the collectors on reg. When reg already holds
// collectors of the same name and shape (a second server in one process),
// those are shared instead of failing.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: RequestsTotalName,
		Help: "gRPC requests handled, by full method name and status code.",
	}, []string{"method", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := telemetry.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    RequestDurationName,
		Help:    "Time to handle a gRPC request, by full method name.",
		Buckets: durationBuckets,
	}, []string{"method"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
}

// unaryInterceptor counts and times every unary call.
func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.duration.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}
