package fleetproof

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/adapter/grpcclient/fleet"
	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

const (
	topicPrefix = "fleet"
	partitions  = 3
	products    = 200
	warehouses  = 3
	readNodes   = 2
	batchSize   = 8
	// The request rate, sized for a 2-core machine shared with other
	// work and the race detector; rateEnv changes it.
	defaultRate = 200
	rateEnv     = "GINTOKI_FLEET_RATE"
	maxInFlight = 64
	// Row writes a second, by writerCount writers.
	writeRate   = 40
	writerCount = 2

	maxStaleness = 5 * time.Second
	// The broker stays away this long, four times the staleness bound.
	brokerAway = 20 * time.Second
	// After a stall of the source, the nodes must bypass their caches
	// within the staleness bound and this much more: the nodes check
	// every 0.5 s, the test polls, and the machine is loaded.
	bypassSlack = 5 * time.Second
	// How long traffic flows with a node killed and left down.
	killedFor = 12 * time.Second
	// The share of requests that must succeed with a node killed.
	killedSuccess = 0.999

	// Generous bounds of things that take seconds; none is a claim.
	settleLimit = 90 * time.Second
)

// proof is the fleet under test: the rig's relay and read nodes, the
// gateway in front of them, the writers and the load.
type proof struct {
	t       *testing.T
	p       *rig.Pipeline
	gateway *apptest.Child
	gwBase  string
	w       *writers
	l       *load
	up      []*rig.Node // nodes running
	// between counts the requests between one scenario and the next.
	between []*tally
}

// TestFleetProof runs a steady request rate through the gateway to two read
// nodes while MariaDB is written, and proves, each with its numbers logged:
//  1. a rolling restart of every node (SIGTERM, start, ready, next) fails
//     no request;
//  2. the broker away for 20 s (--max-staleness 5s) fails no request, and
//     every answer equals the database;
//  3. a node SIGKILLed and left down: at least 99.9% of requests succeed
//     (run last, as the node stays down);
//  4. a source that stops sending (the relay SIGSTOPped, the broker up)
//     makes the nodes bypass their caches within --max-staleness (+ a
//     little), reads then show the writes made meanwhile, and once the
//     relay runs again the nodes go back to their caches.
//
// After each, with the writers held and the feed drained, every product on
// every running node and through the gateway equals the database.
func TestFleetProof(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet proof runs for about two minutes")
	}
	rate := requestRate(t)
	ctx := context.Background()
	dsn, gdb := dbtest.MySQLDSN(t)
	seed, err := database.Seed(ctx, gdb, products, warehouses)
	if err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: topicPrefix, Nodes: readNodes, Partitions: partitions,
		NodeArgs: []string{"--max-staleness", maxStaleness.String(), "--db-max-open", "8"}})
	f := &proof{t: t, p: p}
	began := time.Now()
	f.start()
	t.Logf("fleet proof: relay, %d read nodes and the gateway up in %s", readNodes, time.Since(began).Round(100*time.Millisecond))

	wdb, err := sql.Open("mysql", dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	wdb.SetMaxOpenConns(writerCount + 2)
	t.Cleanup(func() { wdb.Close() })
	f.w = newWriters(wdb, seed.Version, products, warehouses)
	rngSeed := uint64(time.Now().UnixNano())
	writeCtx, stopWriting := context.WithCancel(ctx)
	waitWriters := f.w.run(writeCtx, writerCount, writeRate, rngSeed)
	writersStopped := false
	stopWriters := func() {
		if !writersStopped {
			writersStopped = true
			f.w.pause()
			stopWriting()
			f.w.resume()
			waitWriters()
		}
	}
	t.Cleanup(stopWriters)

	f.l = &load{
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: maxInFlight}},
		base:   f.gwBase, w: f.w, products: products, warehouses: warehouses, batchSize: batchSize,
	}
	steady := f.l.begin("steady")
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); f.l.run(loadCtx, rate, maxInFlight, rngSeed) }()
	t.Cleanup(func() { stopLoad(); <-loadDone })
	t.Logf("fleet proof: %d requests a second through the gateway (%d products, one request in three a batch of %d), %d row writes a second (seed %d)",
		rate, products, batchSize, writeRate, rngSeed)

	// A few seconds without a disruption: the baseline.
	f.pause(3 * time.Second)
	f.settle(steady)
	f.finish(steady, 1, "")

	f.rollingRestart()
	f.brokerAway()
	f.sourceStalled()
	f.nodeKilled()

	stopLoad()
	<-loadDone
	for _, tl := range f.between {
		if tl.failed.Load()+tl.wrong.Load() > 0 {
			t.Errorf("%s: %d of %d requests failed and %d answers were wrong:\n%s", tl.name, tl.failed.Load(), tl.requests.Load(), tl.wrong.Load(), tl.problems.String())
		}
	}
	stopWriters()
	if bad, err := f.w.matchDB(ctx); err != nil || len(bad) > 0 {
		t.Errorf("the database differs from what the writers committed (a fault of the test): %v %s", err, strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
	t.Logf("fleet proof: %d row writes (%d in transactions) in %s", f.w.writes.Load(), f.w.txs.Load(), time.Since(began).Round(time.Second))
}

func requestRate(t *testing.T) int {
	raw := os.Getenv(rateEnv)
	if raw == "" {
		return defaultRate
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 10 || n > 100_000 {
		t.Fatalf("%s=%q: want requests a second, 10 to 100000", rateEnv, raw)
	}
	return n
}

// start starts the relay, the read nodes and the gateway, and returns once
// the gateway has every node serving.
func (f *proof) start() {
	t, p := f.t, f.p
	p.StartRelay()
	// The nodes expect heartbeats once their topic exists: the relay's
	// first heartbeat creates it.
	p.Relay.WaitUntil(t, "the relay's first heartbeat", rig.StartLimit, func() bool {
		v, ok := apptest.Metric(p.Metrics(p.RelayBase()), "gintoki_relay_heartbeats_total")
		return ok && v > 0
	})
	var backends []string
	for _, n := range p.Nodes {
		p.StartNode(n)
		backends = append(backends, n.GRPCAddr)
	}
	f.up = slices.Clone(p.Nodes)
	for _, n := range p.Nodes {
		f.waitReady(n)
		n.Child.WaitUntil(t, n.Name+" expecting source heartbeats", rig.StartLimit, func() bool {
			v, ok := apptest.Metric(p.Metrics(n.Base()), "gintoki_cdc_source_heartbeats")
			return ok && v == 1
		})
	}
	gwAddr := apptest.FreeAddr(t)
	f.gwBase = "http://" + gwAddr
	f.gateway = rig.StartGintoki(t, "gateway", "--backend", strings.Join(backends, ","), "--http-addr", gwAddr,
		"--request-timeout", "10s", "--log-level", "warn", "--log-format", "text")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway's last output:\n%s", f.gateway.Stderr())
		}
	})
	f.waitGateway()
}

// waitReady waits until n says it is ready (/readyz 200), as a load
// balancer's probe would.
func (f *proof) waitReady(n *rig.Node) {
	n.Child.WaitUntil(f.t, n.Name+" ready", rig.StartLimit, func() bool { return f.p.OK(n.Base() + "/readyz") })
}

// waitGateway waits until the gateway reports every running node serving.
func (f *proof) waitGateway() {
	f.gateway.WaitUntil(f.t, "the gateway calling every running node", rig.StartLimit, func() bool {
		text := f.p.Metrics(f.gwBase)
		for _, n := range f.up {
			if v, ok := apptest.Metric(text, fmt.Sprintf("%s{backend=%q}", fleet.ServingName, n.GRPCAddr)); !ok || v != 1 {
				return false
			}
		}
		return true
	})
}

// bypassed reports whether node n reads past its cache, and whether it said.
func (f *proof) bypassed(n *rig.Node) (on, known bool) {
	v, ok := apptest.Metric(f.p.Metrics(n.Base()), "gintoki_cache_bypassed")
	return v == 1, ok
}

// waitBypass waits until every running node reads past its cache (want) or
// from it again (!want), and returns how long after since each took.
func (f *proof) waitBypass(want bool, since time.Time) map[string]time.Duration {
	took := map[string]time.Duration{}
	deadline := time.Now().Add(settleLimit)
	for len(took) < len(f.up) {
		for _, n := range f.up {
			if _, done := took[n.Name]; done {
				continue
			}
			if on, ok := f.bypassed(n); ok && on == want {
				took[n.Name] = time.Since(since)
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("nodes reading past their caches = %v: only %v after %s", want, took, settleLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return took
}

// pause lets traffic flow for d, failing the test at once when a writer
// failed.
func (f *proof) pause(d time.Duration) {
	select {
	case <-time.After(d):
	case <-f.w.failed:
		f.t.Fatalf("writers: %v", f.w.err)
	}
}

// settle holds the writers, drains the feed and checks that every product
// on every running node, and through the gateway, equals the database; the
// gateway must have every running node serving again.
func (f *proof) settle(tl *tally) {
	t, p := f.t, f.p
	f.w.pause()
	defer f.w.resume()
	began := time.Now()
	p.DrainNodes(settleLimit, f.up)
	f.waitGateway()
	ctx := context.Background()
	if bad, err := f.w.matchDB(ctx); err != nil || len(bad) > 0 {
		t.Fatalf("the database differs from what the writers committed (a fault of the test): %v %s", err, strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
	ids := make([]int64, products)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	want := f.w.snapshot(acked)
	bases := []string{f.gwBase}
	for _, n := range f.up {
		bases = append(bases, n.Base())
	}
	var diffs []string
	deadline := time.Now().Add(settleLimit)
	for {
		diffs = diffs[:0]
		for _, base := range bases {
			answers, err := rig.Fetch(ctx, p.Client, base, ids, 0)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: %v", base, err))
				continue
			}
			for _, a := range answers {
				if !f.equalsDB(a, want) {
					diffs = append(diffs, fmt.Sprintf("%s: product %d: %s, database ranks %v", base, a.ProductID, a,
						want[f.w.index(a.ProductID, 1):f.w.index(a.ProductID, warehouses)+1]))
				}
			}
		}
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(diffs) > 0 {
		t.Errorf("%s: with the writers held and the feed drained, answers differ from the database:\n%s", tl.name, strings.Join(diffs[:min(len(diffs), 20)], "\n"))
		return
	}
	t.Logf("fleet proof: %s: settled in %s: all %d products on the running nodes (%d) and through the gateway equal the database",
		tl.name, time.Since(began).Round(100*time.Millisecond), products, len(f.up))
}

// equalsDB reports whether a shows product a.ProductID in every warehouse
// at the rank want holds for it.
func (f *proof) equalsDB(a rig.Answer, want []uint64) bool {
	if a.ProductID < 1 || a.ProductID > products || len(a.Warehouses) != warehouses {
		return false
	}
	for j, line := range a.Warehouses {
		wh := int64(j + 1)
		rank, ok := f.w.rankOf(a.ProductID, wh, line.Qty)
		if !ok || rank != want[f.w.index(a.ProductID, wh)] || line.Code != database.WarehouseCode(wh, warehouses) {
			return false
		}
	}
	return true
}

// finish ends the tally: the requests made from now on count into a new
// one, checked at the end of the test (between), and once tl's last
// requests have ended it logs tl's numbers and checks the share of requests
// that succeeded (answered, and right) against want; extra is added to the
// log.
func (f *proof) finish(tl *tally, want float64, extra string) {
	t := f.t
	f.between = append(f.between, f.l.begin("after "+tl.name))
	if !tl.settled(30 * time.Second) {
		t.Errorf("%s: %d requests still in flight after 30 s", tl.name, tl.inflight.Load())
	}
	took := time.Since(tl.began)
	n := tl.requests.Load()
	t.Logf("fleet proof: %s: %d requests in %s (%.0f/s, %d batches): %d failed, %d wrong, success %.3f%%; "+
		"%d product answers (%d rows) compared with the database, %d of them while every answer had to equal it, %d behind it by the feed's lag where that is allowed%s",
		tl.name, n, took.Round(100*time.Millisecond), float64(n)/took.Seconds(), tl.batches.Load(),
		tl.failed.Load(), tl.wrong.Load(), 100*tl.succeeded(),
		tl.answers.Load(), tl.rows.Load(), tl.fresh.Load(), tl.behind.Load(), extra)
	if n == 0 {
		t.Errorf("%s: no request was made", tl.name)
		return
	}
	if tl.wrong.Load() > 0 || tl.succeeded() < want {
		t.Errorf("%s: %d of %d requests failed and %d answers were wrong (success %.3f%%, want at least %.1f%%); first problems:\n%s",
			tl.name, tl.failed.Load(), n, tl.wrong.Load(), 100*tl.succeeded(), 100*want, tl.problems.String())
	}
}

// 1. Rolling restart: each node in turn stopped with SIGTERM (it reports
// NOT_SERVING, drains, stops), started again, and waited for until ready
// on /readyz, as an orchestrator restarting a fleet would; then the next.
// How long after /readyz said ready the gateway had the node serving is
// measured on the side, without waiting for it: a node stopped while the
// gateway has no other serving node fails requests, which is what this
// scenario looks for.
func (f *proof) rollingRestart() {
	t := f.t
	tl := f.l.begin("rolling restart")
	var steps []string
	seen := make(chan string, len(f.p.Nodes))
	for _, n := range f.p.Nodes {
		began := time.Now()
		if err := n.Child.Terminate(); err != nil {
			t.Errorf("%s: graceful stop: %v\n%s", n.Name, err, n.Child.Stderr())
		}
		stopped := time.Since(began)
		f.p.StartNode(n)
		f.waitReady(n)
		ready := time.Now()
		go func() {
			seen <- fmt.Sprintf("%s serving in the gateway %s after /readyz", n.Name, f.gatewaySees(n, ready))
		}()
		steps = append(steps, fmt.Sprintf("%s stopped in %s, ready again %s later", n.Name,
			stopped.Round(100*time.Millisecond), (ready.Sub(began)-stopped).Round(100*time.Millisecond)))
	}
	for range f.p.Nodes {
		steps = append(steps, <-seen)
	}
	f.settle(tl)
	f.finish(tl, 1, "; "+strings.Join(steps, ", "))
}

// gatewaySees polls the gateway until it reports n serving and returns how
// long after since that was ("never" after settleLimit).
func (f *proof) gatewaySees(n *rig.Node, since time.Time) string {
	name := fmt.Sprintf("%s{backend=%q}", fleet.ServingName, n.GRPCAddr)
	for time.Since(since) < settleLimit {
		if v, ok := apptest.Metric(f.p.Metrics(f.gwBase), name); ok && v == 1 {
			return time.Since(since).Round(10 * time.Millisecond).String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "never"
}

// 2. The broker away for brokerAway, far beyond --max-staleness.
//
// Every answer of the scenario must equal the database. The staleness
// bound lets a node answer from its cache for up to --max-staleness after
// the broker went away, writes made then included; so the writers are held
// from before the broker stops (with the feed drained: every cache equals
// the database) until every node bypasses its cache. Then they write while
// the nodes read MariaDB. They are held again from before the broker comes
// back until every node is back on its cache with the backlog applied, so
// the feed's ordinary lag does not count as a difference either: any answer
// then that is not the database's is a cache the outage left wrong.
func (f *proof) brokerAway() {
	t, p := f.t, f.p
	tl := f.l.begin("broker away")
	f.w.pause()
	p.Drain(settleLimit)
	f.l.openFresh()
	stopped := time.Now()
	p.StopBroker()
	bypass := f.waitBypass(true, stopped)
	f.w.resume()
	writes := f.w.writes.Load()
	f.pause(max(time.Until(stopped.Add(brokerAway)), 3*time.Second))
	f.w.pause()
	writes = f.w.writes.Load() - writes
	away := time.Since(stopped)
	restarted := time.Now()
	p.StartBroker()
	back := f.waitBypass(false, restarted)
	p.Drain(settleLimit)
	f.l.closeFresh()
	f.w.resume()
	f.settle(tl)
	f.finish(tl, 1, fmt.Sprintf("; broker away %s, caches bypassed after %v, %d row writes while bypassed, caches in use again %v after the broker's return",
		away.Round(100*time.Millisecond), rounded(bypass), writes, rounded(back)))
	if tl.fresh.Load() == 0 {
		t.Errorf("%s: no answer was compared while it had to equal the database", tl.name)
	}
}

// 4. The source stalls: the relay frozen with SIGSTOP (its connections
// stay open, it sends nothing, not even heartbeats) while the broker
// answers. As in brokerAway, the writers are held (feed drained) until the
// nodes bypass, and from the relay's return until the caches have the
// backlog, so every answer of the scenario must equal the database; while
// the relay is frozen they write, and reads must show those writes, which
// only MariaDB has.
func (f *proof) sourceStalled() {
	t, p := f.t, f.p
	tl := f.l.begin("source stalled")
	f.w.pause()
	p.Drain(settleLimit)
	carried := f.w.snapshot(started)
	tl.ceiling.Store(&carried)
	f.l.openFresh()
	frozen := time.Now()
	if err := p.Relay.Pause(); err != nil {
		t.Fatal(err)
	}
	bypass := f.waitBypass(true, frozen)
	for name, d := range bypass {
		if d > maxStaleness+bypassSlack {
			t.Errorf("%s: %s bypassed its cache %s after the relay froze, want within --max-staleness %s + %s", tl.name, name, d.Round(100*time.Millisecond), maxStaleness, bypassSlack)
		}
	}
	f.w.resume()
	writes := f.w.writes.Load()
	// Writes go on until reads have shown some of them, and for a few
	// seconds at least.
	f.pause(3 * time.Second)
	deadline := time.Now().Add(settleLimit)
	for tl.newer.Load() == 0 && time.Now().Before(deadline) {
		f.pause(100 * time.Millisecond)
	}
	f.w.pause()
	writes = f.w.writes.Load() - writes
	stalled := time.Since(frozen)
	// From here the feed carries those writes too.
	tl.ceiling.Store(nil)
	resumed := time.Now()
	if err := p.Relay.Resume(); err != nil {
		t.Fatal(err)
	}
	back := f.waitBypass(false, resumed)
	p.Drain(settleLimit)
	f.l.closeFresh()
	f.w.resume()
	f.settle(tl)
	f.finish(tl, 1, fmt.Sprintf("; relay frozen %s, caches bypassed after %v (bound %s), %d row writes while frozen, %d rows shown from MariaDB newer than the feed had carried, caches in use again %v after SIGCONT",
		stalled.Round(100*time.Millisecond), rounded(bypass), maxStaleness, writes, tl.newer.Load(), rounded(back)))
	if tl.newer.Load() == 0 {
		t.Errorf("%s: no read showed a write made while the relay was frozen", tl.name)
	}
}

// 3. A node killed with SIGKILL (no drain, connections cut mid-call) and
// left down: the gateway retries on the other node and stops calling the
// dead one.
func (f *proof) nodeKilled() {
	t := f.t
	tl := f.l.begin("node killed")
	victim := f.up[0]
	victim.Child.Kill()
	f.up = f.up[1:]
	f.pause(killedFor)
	f.gateway.WaitUntil(t, "the gateway seeing "+victim.Name+" gone", settleLimit, func() bool {
		v, ok := apptest.Metric(f.p.Metrics(f.gwBase), fmt.Sprintf("%s{backend=%q}", fleet.ServingName, victim.GRPCAddr))
		return ok && v == 0
	})
	f.settle(tl)
	f.finish(tl, killedSuccess, fmt.Sprintf("; %s killed and left down, %d of %d nodes serving", victim.Name, len(f.up), readNodes))
}

func rounded(m map[string]time.Duration) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %s", n, m[n].Round(100*time.Millisecond))
	}
	return strings.Join(parts, ", ")
}
