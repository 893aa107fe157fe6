package rig

import (
	"bufio"
	"strconv"
	"strings"
	"time"
)

// LaunchRelay starts `gintoki relay` as StartRelay does, and returns once
// it streams, or once it says it stopped for good: for tests of a relay
// that may not come up. It reports which (stopped false: streaming).
func (p *Pipeline) LaunchRelay() (reason string, stopped bool) {
	p.T.Helper()
	p.SpawnRelay()
	p.Relay.WaitUntil(p.T, "relay streaming or stopped for good", StartLimit, func() bool {
		reason, stopped = p.RelayStopped()
		return stopped || p.OK(p.RelayBase()+"/readyz")
	})
	return reason, stopped
}

// RelayStopped reports whether the relay says on /metrics that it stopped
// for good, and why (the reason label of gintoki_relay_stopped).
func (p *Pipeline) RelayStopped() (reason string, stopped bool) {
	sc := bufio.NewScanner(strings.NewReader(p.Metrics(p.RelayBase())))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `gintoki_relay_stopped{reason="`)
		if !ok {
			continue
		}
		label, value, _ := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(value, 64); err == nil && v == 1 {
			return label, true
		}
	}
	return "", false
}

// StayUp fails the test when the child exits within d: what a relay
// stopped for good must not do.
func (p *Pipeline) StayUp(d time.Duration) {
	p.T.Helper()
	until := time.Now().Add(d)
	p.Relay.WaitUntil(p.T, "relay still running after "+d.String(), d+StartLimit, func() bool { return time.Now().After(until) })
}
