package changefeed

import (
	"strings"
	"testing"
	"time"
)

// runFor advances the clock a second at a time with the broker answering,
// ticking as the node does, and with a heartbeat each second while beat.
func runFor(tr *Tracker, clk *clock, d time.Duration, beat bool) {
	for end := clk.t.Add(d); clk.t.Before(end); {
		clk.advance(time.Second)
		if beat {
			tr.Heartbeat()
		}
		tr.Contact(map[Partition]int64{p0: 0})
		tr.Tick()
	}
}

// expect fails the test unless the tracker is in state want, with the cache
// in use exactly when the feed is live.
func expect(t *testing.T, tr *Tracker, c *fakeCache, want State, when string) {
	t.Helper()
	if got := tr.State(); got != want || c.usable != (want == Live) {
		t.Fatalf("%s: state %v, cache usable %v; want %v", when, got, c.usable, want)
	}
}

// warnLines are the log lines at WARN that contain what.
func warnLines(logs interface{ Lines() []string }, what string) []string {
	var out []string
	for _, l := range logs.Lines() {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, what) {
			out = append(out, l)
		}
	}
	return out
}

// A source that dies before its first heartbeat reached the node: with
// heartbeats required the silence counts from the node's start, so the
// cache is bypassed once the bound passes, and the switch is a
// warning.
func TestRequiredHeartbeatsCountSilenceFromTheStart(t *testing.T) {
	tr, c, clk, logs := newLoggedTracker(WithHeartbeats(HeartbeatsRequired))
	if age, on := tr.HeartbeatAge(); !on || age != 0 {
		t.Fatalf("heartbeat age %s on %v at the start, want 0 and required", age, on)
	}
	clk.advance(2 * time.Second)
	goLive(t, tr)
	runFor(tr, clk, 27*time.Second, false)
	expect(t, tr, c, Live, "29s after the start, before the bound")
	runFor(tr, clk, 2*time.Second, false)
	expect(t, tr, c, Stale, "31s after the start without a heartbeat")
	if err := tr.Ready(); err == nil || !strings.Contains(err.Error(), "no source heartbeat for 31s") {
		t.Fatalf("ready %v, want the silent source named", err)
	}
	if lines := warnLines(logs, "change feed stale"); len(lines) != 1 || !strings.Contains(lines[0], "no source heartbeat") {
		t.Fatalf("the switch to bypass was not one WARN naming the source:\n%s", logs.String())
	}
	if n := len(warnLines(logs, "")); n != 1 {
		t.Errorf("%d WARN lines, want only the switch to bypass:\n%s", n, logs.String())
	}
}

// Stale for a silent source ends only with a heartbeat: a broker that
// answers, or a new session, is no sign the source is back. Then the feed
// catches up and the way back is a warning too, with how long it lasted.
func TestRequiredHeartbeatsStayStaleUntilAHeartbeat(t *testing.T) {
	tr, c, clk, logs := newLoggedTracker(WithHeartbeats(HeartbeatsRequired))
	goLive(t, tr)
	runFor(tr, clk, 31*time.Second, false)
	expect(t, tr, c, Stale, "31s without a heartbeat")
	tr.SessionEnded()
	tr.SessionStarted([]Partition{p0}, map[Partition]int64{p0: 4}, map[Partition]int64{p0: 4}, true)
	runFor(tr, clk, 5*time.Second, false)
	expect(t, tr, c, Stale, "a new session, no heartbeat")
	tr.Heartbeat()
	tr.Contact(map[Partition]int64{p0: 6})
	expect(t, tr, c, CatchingUp, "a heartbeat: catch up first")
	tr.Handled(p0, 5)
	expect(t, tr, c, Live, "caught up")
	back := warnLines(logs, "change feed live again")
	if len(back) != 1 || !strings.Contains(back[0], "bypassed_for=5s") {
		t.Fatalf("the way back was not one WARN with the outage's length:\n%s", logs.String())
	}
}

// Auto: a source without heartbeats is not watched, however long it is
// silent; the first heartbeat read turns the requirement on for good.
func TestAutoRequiresHeartbeatsFromTheFirstOneRead(t *testing.T) {
	tr, c, clk := newTracker()
	goLive(t, tr)
	runFor(tr, clk, time.Minute, false)
	if _, on := tr.HeartbeatAge(); on || tr.State() != Live {
		t.Fatalf("state %v, heartbeats required %v without any heartbeat read", tr.State(), on)
	}
	tr.Heartbeat()
	if age, on := tr.HeartbeatAge(); !on || age != 0 {
		t.Fatalf("heartbeat age %s on %v after the first heartbeat", age, on)
	}
	runFor(tr, clk, 31*time.Second, false)
	expect(t, tr, c, Stale, "31s after the only heartbeat")
}

// Auto warns once when no heartbeat arrived within the grace after the feed
// went live, and never when heartbeats arrive in time (a normal start).
func TestAutoWarnsOnceWithoutHeartbeatsAfterTheGrace(t *testing.T) {
	tr, _, clk, logs := newLoggedTracker()
	goLive(t, tr)
	runFor(tr, clk, 29*time.Second, false)
	if lines := warnLines(logs, "no source heartbeat"); len(lines) != 0 {
		t.Fatalf("warned within the grace: %v", lines)
	}
	runFor(tr, clk, 2*time.Minute, false)
	if lines := warnLines(logs, "no source heartbeat within the grace"); len(lines) != 1 {
		t.Fatalf("%d warnings after the grace, want one:\n%s", len(lines), logs.String())
	}

	tr, _, clk, logs = newLoggedTracker()
	goLive(t, tr)
	runFor(tr, clk, 5*time.Second, false)
	runFor(tr, clk, 2*time.Minute, true)
	if lines := warnLines(logs, ""); len(lines) != 0 {
		t.Fatalf("warnings at a normal start, heartbeats 5s after going live: %v", lines)
	}
}

func TestHeartbeatGraceHasAFloor(t *testing.T) {
	for _, c := range []struct{ bound, want time.Duration }{
		{3 * time.Second, 10 * time.Second},
		{30 * time.Second, 30 * time.Second},
	} {
		if got := HeartbeatGrace(c.bound); got != c.want {
			t.Errorf("HeartbeatGrace(%s) = %s, want %s", c.bound, got, c.want)
		}
	}
}

// Off: heartbeats mean nothing, and nothing is warned about them.
func TestHeartbeatsOffIgnoresThem(t *testing.T) {
	tr, _, clk, logs := newLoggedTracker(WithHeartbeats(HeartbeatsOff))
	goLive(t, tr)
	tr.Heartbeat()
	runFor(tr, clk, 2*time.Minute, false)
	if _, on := tr.HeartbeatAge(); on || tr.State() != Live {
		t.Fatalf("state %v, heartbeats required %v with heartbeats off", tr.State(), on)
	}
	if lines := warnLines(logs, ""); len(lines) != 0 {
		t.Fatalf("warnings with heartbeats off: %v", lines)
	}
}

// The broker's silence is an outage like the source's: both ends at WARN.
func TestBrokerOutageLoggedAtWarn(t *testing.T) {
	tr, _, clk, logs := newLoggedTracker(WithHeartbeats(HeartbeatsOff))
	goLive(t, tr)
	clk.advance(31 * time.Second)
	tr.Tick()
	tr.Contact(map[Partition]int64{p0: 0})
	if tr.State() != Live {
		t.Fatalf("state %v after the broker came back with nothing new", tr.State())
	}
	if stale, back := warnLines(logs, "change feed stale"), warnLines(logs, "change feed live again"); len(stale) != 1 || len(back) != 1 {
		t.Fatalf("want one WARN for each end of the outage:\n%s", logs.String())
	}
	if info := strings.Count(logs.String(), "level=INFO"); info != 3 {
		t.Errorf("%d INFO lines, want the start's two steps and the catching up after the outage:\n%s", info, logs.String())
	}
}

func TestParseHeartbeatPolicy(t *testing.T) {
	for _, p := range []HeartbeatPolicy{HeartbeatsAuto, HeartbeatsRequired, HeartbeatsOff} {
		got, err := ParseHeartbeatPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParseHeartbeatPolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseHeartbeatPolicy("on"); err == nil || !strings.Contains(err.Error(), "auto, required or off") {
		t.Errorf("ParseHeartbeatPolicy(on): %v", err)
	}
}
