package fleet

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// scheme names the channel's own resolver; the channel's target is
// scheme:///read-nodes.
const scheme = "gintoki-fleet"

// backendKey tags each endpoint with the configured backend it came from,
// for the metrics' backend label.
type backendKey struct{}

// observerKey carries the channel's observer to its balancer: balancers are
// registered process-wide, the resolver is the channel's own.
type observerKey struct{}

func backendOf(ep resolver.Endpoint) string {
	s, _ := ep.Attributes.Value(backendKey{}).(string)
	return s
}

func observerOf(s resolver.State) *observer {
	o, _ := s.Attributes.Value(observerKey{}).(*observer)
	return o
}

// resolverBuilder makes the channel's resolver for the configured backends.
type resolverBuilder struct {
	backends []string
	targets  []resolver.Target
	obs      *observer
}

func (b *resolverBuilder) Scheme() string { return scheme }

// fleetResolver resolves every configured backend with gRPC's own resolver
// for it (passthrough for host:port, dns for dns:///) and hands the channel
// the union of their endpoints. gRPC's manual resolver takes a fixed list
// only, and a dns:/// backend needs re-resolution as nodes come and go.
type fleetResolver struct {
	*resolverBuilder
	cc       resolver.ClientConn
	children []resolver.Resolver

	mu        sync.Mutex
	endpoints [][]resolver.Endpoint // per backend, as last resolved
	errs      []error               // per backend, the last resolution error
	built     bool                  // all children built: updates go to cc
}

// Build starts one child resolver per backend.
func (b *resolverBuilder) Build(_ resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	r := &fleetResolver{
		resolverBuilder: b,
		cc:              cc,
		endpoints:       make([][]resolver.Endpoint, len(b.targets)),
		errs:            make([]error, len(b.targets)),
	}
	// The service config is the gateway's own (WithDefaultServiceConfig),
	// never one published in DNS TXT records.
	opts.DisableServiceConfig = true
	for i, t := range r.targets {
		cb := resolver.Get(t.URL.Scheme)
		if cb == nil {
			r.Close()
			return nil, fmt.Errorf("no resolver for %q", r.backends[i])
		}
		child, err := cb.Build(t, &childConn{parent: r, i: i}, opts)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("resolve %q: %w", r.backends[i], err)
		}
		r.children = append(r.children, child)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.built = true
	r.pushLocked()
	return r, nil
}

func (r *fleetResolver) ResolveNow(o resolver.ResolveNowOptions) {
	for _, c := range r.children {
		c.ResolveNow(o)
	}
}

func (r *fleetResolver) Close() {
	for _, c := range r.children {
		c.Close()
	}
}

// update records backend i's endpoints, tagged with the backend.
func (r *fleetResolver) update(i int, s resolver.State) error {
	eps := s.Endpoints
	if eps == nil { // passthrough reports addresses only
		for _, a := range s.Addresses {
			eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{a}})
		}
	}
	tagged := make([]resolver.Endpoint, len(eps))
	for j, ep := range eps {
		addrs := make([]resolver.Address, len(ep.Addresses))
		for k, a := range ep.Addresses {
			// The authority (and, with TLS, the name the certificate must
			// carry) is the configured name, not the resolved IP.
			if a.ServerName == "" {
				a.ServerName = r.targets[i].Endpoint()
			}
			addrs[k] = a
		}
		tagged[j] = resolver.Endpoint{Addresses: addrs, Attributes: ep.Attributes.WithValue(backendKey{}, r.backends[i])}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endpoints[i], r.errs[i] = tagged, nil
	return r.pushLocked()
}

func (r *fleetResolver) reportError(i int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[i] = fmt.Errorf("resolve %q: %w", r.backends[i], err)
	r.pushLocked()
}

// pushLocked gives the channel every endpoint known so far. Only when no
// backend has any does it report the resolution errors instead.
func (r *fleetResolver) pushLocked() error {
	if !r.built {
		return nil
	}
	var all []resolver.Endpoint
	for _, eps := range r.endpoints {
		all = append(all, eps...)
	}
	if len(all) == 0 {
		if err := errors.Join(r.errs...); err != nil {
			r.cc.ReportError(err)
			return nil
		}
	}
	return r.cc.UpdateState(resolver.State{
		Endpoints:  all,
		Attributes: attributes.New(observerKey{}, r.obs),
	})
}

// childConn is what one child resolver reports to.
type childConn struct {
	resolver.ClientConn // not set: every method a resolver may call is below
	parent              *fleetResolver
	i                   int
}

func (c *childConn) UpdateState(s resolver.State) error { return c.parent.update(c.i, s) }
func (c *childConn) ReportError(err error)              { c.parent.reportError(c.i, err) }
func (c *childConn) NewAddress(addrs []resolver.Address) {
	_ = c.parent.update(c.i, resolver.State{Addresses: addrs})
}
func (c *childConn) ParseServiceConfig(js string) *serviceconfig.ParseResult {
	return c.parent.cc.ParseServiceConfig(js)
}
