package fleet

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// balancerName is the channel's load-balancing policy: gRPC's round_robin
// (one pick_first child per address, each READY only while connected and
// its health watch says SERVING) with the pick done here, so that
//   - a retry goes to another read node than the attempt that failed, which
//     round_robin's shared counter does not ensure under concurrent calls;
//   - every attempt is counted under the backend it went to.
const balancerName = "gintoki_round_robin"

func init() { balancer.Register(balancerBuilder{}) }

type balancerBuilder struct{}

func (balancerBuilder) Name() string { return balancerName }

func (balancerBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &fleetBalancer{}
	b.Balancer = balancer.Get(roundrobin.Name).Build(&pickerSwap{ClientConn: cc, b: b}, opts)
	return b
}

type fleetBalancer struct {
	balancer.Balancer // round_robin
	obs               atomic.Pointer[observer]
}

func (b *fleetBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	if o := observerOf(s.ResolverState); o != nil {
		b.obs.Store(o)
	}
	return b.Balancer.UpdateClientConnState(s)
}

func (b *fleetBalancer) Close() {
	b.Balancer.Close()
	b.obs.Load().report(nil)
}

// pickerSwap sits between round_robin and the channel and replaces the
// pickers round_robin publishes.
type pickerSwap struct {
	balancer.ClientConn
	b *fleetBalancer
}

func (p *pickerSwap) UpdateState(s balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(s.Picker)
	obs := p.b.obs.Load()
	if s.ConnectivityState == connectivity.Ready {
		s.Picker = newNodePicker(children, obs)
	} else {
		s.Picker = noNodePicker{s.Picker}
	}
	p.ClientConn.UpdateState(s)
	// After the channel has the picker: once a gauge says 0, no new call
	// goes to that backend.
	obs.report(children)
}

// node is one READY (connected and SERVING) read node.
type node struct {
	addr    string
	backend string
	picker  balancer.Picker // pick_first's, always its one SubConn
}

type nodePicker struct {
	nodes []node
	next  atomic.Uint32
	obs   *observer
}

func newNodePicker(children []endpointsharding.ChildState, obs *observer) *nodePicker {
	p := &nodePicker{obs: obs}
	for _, c := range children {
		if c.State.ConnectivityState != connectivity.Ready || len(c.Endpoint.Addresses) == 0 {
			continue
		}
		p.nodes = append(p.nodes, node{addr: c.Endpoint.Addresses[0].Addr, backend: backendOf(c.Endpoint), picker: c.State.Picker})
	}
	// A random start: a fixed one would send the first calls after every
	// change to the same node, from every gateway.
	p.next.Store(rand.Uint32())
	return p
}

func (p *nodePicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if len(p.nodes) == 0 { // round_robin said READY with no READY child: cannot happen
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	c := callFrom(info.Ctx)
	n := uint32(len(p.nodes))
	i := p.next.Add(1) % n
	if n > 1 && p.nodes[i].addr == c.failedAddr() {
		i = (i + 1) % n
	}
	nd := &p.nodes[i]
	res, err := nd.picker.Pick(info)
	if err != nil {
		return res, err
	}
	inner := res.Done
	res.Done = func(d balancer.DoneInfo) {
		if inner != nil {
			inner(d)
		}
		if !d.BytesSent && d.Err == nil {
			// The channel gave the pick up (the connection was gone) and
			// picks again: nothing was sent.
			return
		}
		p.obs.count(nd.backend, status.Code(d.Err))
		c.attempted(nd, d)
	}
	return res, nil
}

// noNodePicker is round_robin's picker while no read node is READY: it
// queues calls (CONNECTING) or fails them; a failure is remembered so the
// caller can say that no read node was available.
type noNodePicker struct{ balancer.Picker }

func (p noNodePicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	res, err := p.Picker.Pick(info)
	if err != nil && err != balancer.ErrNoSubConnAvailable {
		callFrom(info.Ctx).noNode()
	}
	return res, err
}

// outcome is how a call's latest attempt ended.
type outcome int

const (
	noNodeAvailable outcome = iota // no read node could be picked
	nodeUnreachable                // sent, but the connection failed
	nodeAnswered                   // the read node answered with an error
)

type callKey struct{}

// call follows one call's attempts, from the interceptor through the
// picker: which node failed last (the retry avoids it), how the latest
// attempt ended, and the backends tried (for the log). Every method is safe
// on a nil call (a call made without the interceptor).
type call struct {
	mu      sync.Mutex
	failed  string
	outcome outcome
	tried   []string
}

func withCall(ctx context.Context) (context.Context, *call) {
	c := &call{}
	return context.WithValue(ctx, callKey{}, c), c
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

func (c *call) failedAddr() string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *call) attempted(n *node, d balancer.DoneInfo) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tried = append(c.tried, n.backend)
	if d.Err == nil {
		return
	}
	c.failed = n.addr
	c.outcome = nodeUnreachable
	if d.BytesReceived {
		c.outcome = nodeAnswered
	}
}

func (c *call) noNode() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcome = noNodeAvailable
}

func (c *call) result() (outcome, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcome, c.tried
}
