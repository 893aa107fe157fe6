package fleet

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
)

// Metric names; alerts and dashboards refer to them.
const (
	CallsTotalName = "gintoki_gateway_backend_calls_total"
	ServingName    = "gintoki_gateway_backend_serving"
)

// observer turns the balancer's view of the read nodes into metrics and
// the gateway's readiness. Its methods are safe on a nil observer.
type observer struct {
	backends []string
	calls    *prometheus.CounterVec
	serving  *prometheus.GaugeVec
	ready    atomic.Bool
	// servingCh is closed while a node serves and open while none does:
	// calls that found no node wait on it (Fleet.awaitNode).
	mu        sync.Mutex
	servingCh chan struct{}
}

// newObserver registers the metrics on reg (nil: kept unregistered).
func newObserver(backends []string, reg prometheus.Registerer) (*observer, error) {
	o := &observer{
		backends: backends,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: CallsTotalName,
			Help: "Calls (each attempt, retries included) the gateway made to read nodes, by configured backend and gRPC status code.",
		}, []string{"backend", "code"}),
		serving: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ServingName,
			Help: "1 while at least one address of the configured backend is connected and reports SERVING on its gRPC health service, else 0.",
		}, []string{"backend"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{o.calls, o.serving} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register gateway metrics: %w", err)
			}
		}
	}
	for _, b := range backends {
		o.serving.WithLabelValues(b).Set(0)
	}
	o.servingCh = make(chan struct{})
	return o, nil
}

// whenServing returns a channel that is closed once a node serves (never,
// on a nil observer).
func (o *observer) whenServing() <-chan struct{} {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.servingCh
}

func (o *observer) count(backend string, code codes.Code) {
	if o == nil {
		return
	}
	o.calls.WithLabelValues(backend, code.String()).Inc()
}

// report publishes which backends have a READY node; nil children (the
// balancer closed) means none.
func (o *observer) report(children []endpointsharding.ChildState) {
	if o == nil {
		return
	}
	up := make(map[string]bool, len(o.backends))
	for _, c := range children {
		if c.State.ConnectivityState == connectivity.Ready {
			up[backendOf(c.Endpoint)] = true
		}
	}
	for _, b := range o.backends {
		v := 0.0
		if up[b] {
			v = 1
		}
		o.serving.WithLabelValues(b).Set(v)
	}
	ready := len(up) > 0
	o.ready.Store(ready)
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.servingCh:
		if !ready {
			o.servingCh = make(chan struct{})
		}
	default:
		if ready {
			close(o.servingCh)
		}
	}
}
