// Package fleet is the gateway's gRPC channel to a set of read nodes: it
// resolves the configured backends, balances calls round robin over the
// nodes that report SERVING on the standard health service, retries a call
// that fails with UNAVAILABLE once on another node, and counts calls and
// serving nodes per backend. Errors it returns say what failed, never where:
// addresses and dial errors go to the log.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking (healthCheckConfig)
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/infrastructure/telemetry"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// Client-facing messages of a call that found no read node.
const (
	MsgNoNode      = "no read node available"
	MsgUnavailable = "read node unavailable"
)

// Options configure Dial. Every field may be left zero.
type Options struct {
	// Credentials secure the connections to the read nodes; nil is
	// plaintext (a private network or a mesh that provides TLS).
	Credentials credentials.TransportCredentials
	// TracerProvider makes the client spans; nil uses the global provider.
	TracerProvider trace.TracerProvider
	// Registerer receives the backend metrics; nil leaves them out.
	Registerer prometheus.Registerer
	// Logger receives the details of failed calls; nil discards them.
	Logger *slog.Logger
}

// Fleet is one gRPC channel to every configured read node.
type Fleet struct {
	conn *grpc.ClientConn
	obs  *observer
	log  *slog.Logger
	// failures not logged since the last line, to keep an outage from
	// writing one line per request.
	unlogged atomic.Int64
	lastLog  atomic.Int64 // unix nanoseconds
	// lastRedial is when awaitNode last cut the reconnect backoff short
	// (unix nanoseconds).
	lastRedial atomic.Int64
}

// holdFor is how long a call that found no serving read node waits for
// one before it fails. In a rolling restart the node stopped next turns
// NOT_SERVING the moment it is told to stop, while the node started before
// it may be ready but not yet reconnected (the channel backs off between
// attempts, up to MaxDelay): without the wait, calls in that gap fail
// although a node is there to answer. The wait also re-dials every node at
// once (see awaitNode).
const holdFor = time.Second

// serviceConfig: the balancer (balancer.go) with the inventory service's
// health as the nodes' health, and one retry of an UNAVAILABLE call. Every
// call is an idempotent read, so a retry is safe.
var serviceConfig = fmt.Sprintf(`{
  "loadBalancingConfig": [{%[1]q: {}}],
  "healthCheckConfig": {"serviceName": %[2]q},
  "methodConfig": [{
    "name": [{"service": %[2]q}],
    "retryPolicy": {
      "maxAttempts": 2,
      "initialBackoff": "0.002s",
      "maxBackoff": "0.1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`, balancerName, inventoryv1.InventoryService_ServiceDesc.ServiceName)

// Dial connects to backends (see ParseTargets) and starts watching their
// health at once, so Ready answers before the first call.
func Dial(backends []string, opts Options) (*Fleet, error) {
	targets, err := ParseTargets(backends)
	if err != nil {
		return nil, err
	}
	obs, err := newObserver(backends, opts.Registerer)
	if err != nil {
		return nil, err
	}
	f := &Fleet{obs: obs, log: opts.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	creds := opts.Credentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(scheme+":///read-nodes",
		grpc.WithResolvers(&resolverBuilder{backends: backends, targets: targets, obs: obs}),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithDisableServiceConfig(),
		grpc.WithChainUnaryInterceptor(f.intercept),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(opts.TracerProvider),
			// Health watches of every node are background work.
			otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
				return telemetry.TracesBackground() || !telemetry.IsHealthCall(info.FullMethodName)
			}))),
		// An idle channel would drop its connections and health watches,
		// and with them the readiness and the serving gauges.
		grpc.WithIdleTimeout(0),
		// gRPC's default backoff grows to 2 minutes between attempts: a
		// read node back after a restart would wait that long for calls.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dial read nodes: %w", err)
	}
	conn.Connect()
	f.conn = conn
	return f, nil
}

// Conn is the channel to call the read nodes on.
func (f *Fleet) Conn() grpc.ClientConnInterface { return f.conn }

// Close closes every connection.
func (f *Fleet) Close() error { return f.conn.Close() }

// Ready returns nil while at least one read node is connected and SERVING.
func (f *Fleet) Ready(context.Context) error {
	if f.obs.ready.Load() {
		return nil
	}
	return fmt.Errorf("no read node is serving (%d backends configured)", len(f.obs.backends))
}

// intercept follows the call's attempts and turns an UNAVAILABLE that
// names addresses or dial errors into one that says only what failed.
func (f *Fleet) intercept(parent context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, c := withCall(parent)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err == nil || status.Code(err) != codes.Unavailable {
		return err
	}
	if how, _ := c.result(); how == noNodeAvailable && f.awaitNode(parent) {
		ctx, c = withCall(parent)
		if err = invoker(ctx, method, req, reply, cc, opts...); err == nil || status.Code(err) != codes.Unavailable {
			return err
		}
	}
	how, tried := c.result()
	f.logFailure(ctx, method, tried, err)
	switch how {
	case nodeAnswered:
		// The read node's own message (for example "database busy: ...")
		// is written for callers.
		if msg := nodeMessage(err); msg != "" {
			return status.Error(codes.Unavailable, MsgUnavailable+": "+msg)
		}
		return status.Error(codes.Unavailable, MsgUnavailable)
	case nodeUnreachable:
		return status.Error(codes.Unavailable, MsgUnavailable)
	}
	return status.Error(codes.Unavailable, MsgNoNode)
}

// awaitNode waits up to holdFor (and no longer than ctx) for a read node to
// serve, and reports whether one does. It first has the channel re-dial
// every node it is backing off from, at most once per redialEvery: a node
// that came back since the last attempt is then found now, not after the
// rest of its backoff.
func (f *Fleet) awaitNode(ctx context.Context) bool {
	serving := f.obs.whenServing()
	now := time.Now().UnixNano()
	if last := f.lastRedial.Load(); now-last >= int64(redialEvery) && f.lastRedial.CompareAndSwap(last, now) {
		f.conn.ResetConnectBackoff()
	}
	t := time.NewTimer(holdFor)
	defer t.Stop()
	select {
	case <-serving:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// redialEvery spaces the re-dials of calls that find no node, so an outage
// under load does not turn into a storm of connection attempts.
const redialEvery = 100 * time.Millisecond

// nodeMessage is the status message as the node sent it: when the retry
// gives up, gRPC wraps the status in an error of its own whose text
// status.Convert would return.
func nodeMessage(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Message()
	}
	return ""
}

// logFailure writes at most one line a second.
func (f *Fleet) logFailure(ctx context.Context, method string, tried []string, err error) {
	now := time.Now().UnixNano()
	last := f.lastLog.Load()
	if now-last < int64(time.Second) || !f.lastLog.CompareAndSwap(last, now) {
		f.unlogged.Add(1)
		return
	}
	f.log.WarnContext(ctx, "read node call failed",
		slog.String("method", method),
		slog.String("backends_tried", strings.Join(tried, ",")),
		slog.Any("error", err),
		slog.Int64("failures_not_logged", f.unlogged.Swap(0)))
}
