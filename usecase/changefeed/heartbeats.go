package changefeed

import (
	"fmt"
	"time"
)

// HeartbeatPolicy says whether the source's silence makes the cache stale.
// A source (Debezium with heartbeat.interval.ms, gintoki relay) writes a
// heartbeat every second or so while it streams; without heartbeats a
// stopped source and an idle database look the same from the feed.
type HeartbeatPolicy int

// The heartbeat policies.
const (
	// HeartbeatsAuto requires heartbeats from the first one consumed on. A
	// topic that merely exists proves nothing (a broker may create it on
	// any metadata request, a source may have sent its last one long ago),
	// so only a heartbeat read turns the requirement on. A feed that stays
	// without one past HeartbeatGrace is warned about once.
	HeartbeatsAuto HeartbeatPolicy = iota
	// HeartbeatsRequired treats "no heartbeat yet" like a silent source from
	// the start: the silence is measured from the tracker's creation, so a
	// source that dies before its first heartbeat reached this node is
	// noticed too.
	HeartbeatsRequired
	// HeartbeatsOff ignores heartbeats: only the broker's silence counts.
	HeartbeatsOff
)

var heartbeatPolicyNames = [...]string{"auto", "required", "off"}

func (p HeartbeatPolicy) String() string {
	if p < 0 || int(p) >= len(heartbeatPolicyNames) {
		return fmt.Sprintf("HeartbeatPolicy(%d)", int(p))
	}
	return heartbeatPolicyNames[p]
}

// ParseHeartbeatPolicy reads "auto", "required" or "off".
func ParseHeartbeatPolicy(s string) (HeartbeatPolicy, error) {
	for i, name := range heartbeatPolicyNames {
		if s == name {
			return HeartbeatPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("source heartbeats %q: want auto, required or off", s)
}

// MinHeartbeatGrace is the least time HeartbeatsAuto waits, after the feed
// first went live, for a first heartbeat before warning that there is none.
// It covers a source started together with the node: its heartbeat topic
// appears with its first heartbeat, the consumer finds a topic that appears
// later within a couple of seconds and joins its group again, and the
// source's next heartbeat follows within its interval (1 s for gintoki relay
// and the documented Debezium setting).
const MinHeartbeatGrace = 10 * time.Second

// HeartbeatGrace is how long HeartbeatsAuto waits: the staleness bound, at
// least MinHeartbeatGrace. A source whose heartbeats come further apart than
// the bound could not keep a node that requires them live anyway, so waiting
// longer would only delay the warning.
func HeartbeatGrace(maxStaleness time.Duration) time.Duration {
	return max(maxStaleness, MinHeartbeatGrace)
}

// Option changes how NewTracker builds a tracker.
type Option func(*Tracker)

// WithHeartbeats sets the heartbeat policy; the default is HeartbeatsAuto.
func WithHeartbeats(p HeartbeatPolicy) Option {
	return func(t *Tracker) { t.policy = p }
}

// Heartbeat records a heartbeat of the source. Under HeartbeatsAuto the
// first one turns the requirement on.
func (t *Tracker) Heartbeat() {
	t.mu.Lock()
	defer t.unlock()
	if t.policy == HeartbeatsOff {
		return
	}
	t.lastHeartbeat = t.now()
	if !t.heartbeats {
		t.heartbeats = true
		t.log.Info("source heartbeats arrive: from now on a source silent for the staleness bound counts like a lost broker",
			"max_staleness", t.maxStaleness)
	}
}

// HeartbeatAge is how long ago the source's last heartbeat arrived (since
// the tracker started when none has); on is whether they are required.
func (t *Tracker) HeartbeatAge() (age time.Duration, on bool) {
	t.mu.Lock()
	defer t.unlock()
	return t.now().Sub(t.lastHeartbeat), t.heartbeats
}

// sourceSilence is how long the source has been silent while its heartbeats
// are required; 0 when they are not. Callers hold t.mu.
func (t *Tracker) sourceSilence(now time.Time) time.Duration {
	if !t.heartbeats {
		return 0
	}
	return now.Sub(t.lastHeartbeat)
}

// sourceHeardSinceStale reports whether the source has shown life since the
// feed went stale, or need not. Callers hold t.mu.
func (t *Tracker) sourceHeardSinceStale() bool {
	return !t.heartbeats || t.lastHeartbeat.After(t.staleSince)
}

// warnWithoutHeartbeats warns once when HeartbeatsAuto has seen no heartbeat
// within the grace after the feed first went live: the one case where a
// stopped source would go unnoticed. Callers hold t.mu.
func (t *Tracker) warnWithoutHeartbeats(now time.Time) {
	if t.policy != HeartbeatsAuto || t.heartbeats || !t.beenLive || t.graceWarned {
		return
	}
	grace := HeartbeatGrace(t.maxStaleness)
	if now.Sub(t.liveSince) < grace {
		return
	}
	t.graceWarned = true
	t.log.Warn("no source heartbeat within the grace after the change feed went live: a stopped or stuck source "+
		"(Debezium task, gintoki relay) goes unnoticed, and cached answers stay as they are until --cache-ttl or the consistency inspector. "+
		"Turn heartbeats on at the source (Debezium heartbeat.interval.ms, e.g. 1000; gintoki relay sends them by default) "+
		"and set --source-heartbeats required, or --source-heartbeats off to accept this",
		"grace", grace)
}
