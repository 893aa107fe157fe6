package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/infrastructure/telemetry"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// tracedCall leaves health checks and reflection out of the traces, unless
// background work is traced: gateways watch every node's health.
func tracedCall(info *stats.RPCTagInfo) bool {
	return telemetry.TracesBackground() || !telemetry.IsHealthCall(info.FullMethodName)
}

// ServiceName is the fully qualified name of the inventory service, as the
// health service and reflection know it.
const ServiceName = "gintoki.inventory.v1.InventoryService"

// Options configure New. Every field may be left zero.
type Options struct {
	// Logger receives internal errors and recovered panics; nil discards them.
	Logger *slog.Logger
	// Registerer receives the request metrics; nil leaves them out.
	Registerer prometheus.Registerer
	// TracerProvider makes the server spans; nil uses the global provider.
	TracerProvider trace.TracerProvider
	// MaxRecvMsgSize bounds an incoming message in bytes; 0 means
	// DefaultMaxRecvMsgSize. A larger message is refused before it is
	// decoded.
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds the calls one connection has in flight;
	// 0 means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// Creds secures the listener (TLS, mutual TLS); nil serves in clear.
	Creds credentials.TransportCredentials
	// NoReflection leaves server reflection out.
	NoReflection bool
}

// DefaultMaxRecvMsgSize fits the largest valid request with room to spare:
// a batch of domain.MaxBatchSize ids of at most 10 bytes each (varints) is
// about 10 KB. gRPC's own default, 4 MiB, would let a client make the
// server decode half a million ids before the batch limit refuses them.
const DefaultMaxRecvMsgSize = 64 << 10

// DefaultMaxConcurrentStreams bounds one connection's calls in flight; a
// client wanting more opens more connections, which the kernel and the
// load balancer see and bound.
const DefaultMaxConcurrentStreams = 256

// Keepalive: pings closer than minPingInterval are a misbehaving (or
// hostile) client, and the connection is closed after a few. A silent
// connection is probed every pingIdle and dropped when the probe goes
// unanswered for pingTimeout.
const (
	minPingInterval = 10 * time.Second
	pingIdle        = time.Minute
	pingTimeout     = 20 * time.Second
	// handshakeTimeout bounds the TLS handshake and the HTTP/2 preface of
	// a new connection, so a client that connects and says nothing does
	// not hold it for gRPC's default two minutes.
	handshakeTimeout = 10 * time.Second
)

// New builds a gRPC server serving InventoryService on reader, plus health
// and (unless opts.NoReflection) reflection. The health server starts SERVING; the caller flips it with
// SetServing (for instance to NOT_SERVING before a graceful stop). The
// caller owns listening and stopping.
func New(reader Reader, opts Options) (*grpc.Server, *health.Server, error) {
	if reader == nil {
		return nil, nil, fmt.Errorf("grpc server: reader is nil")
	}
	if opts.MaxRecvMsgSize < 0 {
		return nil, nil, fmt.Errorf("grpc server: max receive message size must not be negative, got %d", opts.MaxRecvMsgSize)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	// Recovery runs innermost so a panic is counted as the INTERNAL it becomes.
	interceptors := []grpc.UnaryServerInterceptor{}
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer)
		if err != nil {
			return nil, nil, err
		}
		interceptors = append(interceptors, m.unaryInterceptor)
	}
	interceptors = append(interceptors, recoverInterceptor(logger))

	maxRecv, maxStreams := opts.MaxRecvMsgSize, opts.MaxConcurrentStreams
	if maxRecv == 0 {
		maxRecv = DefaultMaxRecvMsgSize
	}
	if maxStreams == 0 {
		maxStreams = DefaultMaxConcurrentStreams
	}
	serverOpts := []grpc.ServerOption{
		// Connections are recycled now and then, so clients that balance
		// per connection (the gateway) spread over read nodes added later.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge: 5 * time.Minute, MaxConnectionAgeGrace: 30 * time.Second,
			Time: pingIdle, Timeout: pingTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPingInterval, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxRecv),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.ChainUnaryInterceptor(interceptors...),
	}
	if opts.Creds != nil {
		serverOpts = append(serverOpts, grpc.Creds(opts.Creds))
	}
	// With tracing off (the no-op provider) the stats handler would still
	// build attributes and no-op spans and metrics for every call.
	if _, off := opts.TracerProvider.(tracenoop.TracerProvider); !off {
		serverOpts = append(serverOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(opts.TracerProvider), otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelgrpc.WithFilter(tracedCall))))
	}

	srv := grpc.NewServer(serverOpts...)
	inventoryv1.RegisterInventoryServiceServer(srv, NewServer(reader, logger))

	hs := health.NewServer()
	SetServing(hs, true)
	healthpb.RegisterHealthServer(srv, hs)

	if !opts.NoReflection {
		reflection.Register(srv)
	}
	return srv, hs, nil
}

// SetServing sets the health of the whole server ("") and of the inventory
// service together, so probes of either agree.
func SetServing(hs *health.Server, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	hs.SetServingStatus("", st)
	hs.SetServingStatus(ServiceName, st)
}

// Shutdown stops srv in an order that fails no call: it reports NOT_SERVING
// first and keeps answering for drain, so clients that watch its health
// (the gateway) stop sending before it stops accepting; then it finishes
// the calls in flight. When ctx ends first, whatever is left is cut off.
func Shutdown(ctx context.Context, srv *grpc.Server, hs *health.Server, drain time.Duration) {
	// Unlike SetServing(false), this also ignores later status changes.
	hs.Shutdown()
	t := time.NewTimer(drain)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		srv.Stop()
		<-stopped
	}
}

// recoverInterceptor turns a panic in a handler into INTERNAL instead of
// taking the whole process down with every other in-flight request.
func recoverInterceptor(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.ErrorContext(ctx, "grpc handler panicked",
					slog.String("method", info.FullMethod),
					slog.Any("panic", r),
					slog.String("stack", string(debug.Stack())))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
