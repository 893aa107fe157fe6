package fleet

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/resolver"
)

// ParseTargets checks the configured backends: each one is host:port (one
// read node, its name resolved when dialling) or dns:///name:port (every
// address the name resolves to, re-resolved as nodes come and go).
func ParseTargets(backends []string) ([]resolver.Target, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("no backend given")
	}
	seen := make(map[string]bool, len(backends))
	targets := make([]resolver.Target, 0, len(backends))
	for _, b := range backends {
		if seen[b] {
			return nil, fmt.Errorf("backend %q is listed twice", b)
		}
		seen[b] = true
		t, err := parseTarget(b)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// parseTarget turns one backend into the target of the gRPC resolver that
// finds its addresses: passthrough for host:port, dns for dns:///.
func parseTarget(backend string) (resolver.Target, error) {
	if !strings.Contains(backend, "://") {
		if err := checkHostPort(backend); err != nil {
			return resolver.Target{}, fmt.Errorf("backend %q: %v (want host:port or dns:///name:port)", backend, err)
		}
		return resolver.Target{URL: url.URL{Scheme: "passthrough", Path: "/" + backend}}, nil
	}
	u, err := url.Parse(backend)
	if err != nil {
		return resolver.Target{}, fmt.Errorf("backend %q: %v", backend, err)
	}
	if u.Scheme != "dns" {
		return resolver.Target{}, fmt.Errorf("backend %q: scheme %q is not supported (want host:port or dns:///name:port)", backend, u.Scheme)
	}
	t := resolver.Target{URL: *u}
	// gRPC's DNS resolver would quietly use port 443 when none is given.
	if err := checkHostPort(t.Endpoint()); err != nil {
		return resolver.Target{}, fmt.Errorf("backend %q: %v (want dns:///name:port)", backend, err)
	}
	return t, nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number within 1..65535", port)
	}
	return nil
}
