package telemetry

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// background is whether probes and background loops are traced
// (--otel-trace-background). Off, they make no spans: a readiness probe
// every second, health watches, heartbeats and inspector rounds would bury
// the requests in a trace UI.
var background atomic.Bool

// SetTraceBackground turns the tracing of probes and background work on or
// off (NewTracing sets it from its configuration).
func SetTraceBackground(on bool) { background.Store(on) }

// TracesBackground reports whether probes and background work are traced.
func TracesBackground() bool { return background.Load() }

// Untraced returns ctx under which spans are not recorded, unless
// background work is traced: its parent is a span context that was not
// sampled, which the ParentBased sampler follows for every child.
func Untraced(ctx context.Context) context.Context {
	if background.Load() {
		return ctx
	}
	var ids [24]byte
	_, _ = rand.Read(ids[:])
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], ids[:16])
	copy(sid[:], ids[16:])
	tid[0] |= 1 // never the invalid all-zero id
	sid[0] |= 1
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
}

// IsHealthCall reports whether a gRPC method is a health check or server
// reflection, which are not traced unless background work is.
func IsHealthCall(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") || strings.HasPrefix(fullMethod, "/grpc.reflection.")
}
