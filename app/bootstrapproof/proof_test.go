package bootstrapproof

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/gintoki/gintoki/adapter/grpcclient/fleet"
	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/polltest"
)

const (
	products   = 1000
	warehouses = 3
	partitions = 3
	// unknown is a product no write ever made: no topic holds it, so the
	// node can only ask the database.
	unknown = 5000
	// limit bounds each wait for something that takes seconds; none is a
	// claim.
	limit = rig.StartLimit
)

// node is a read node with a database proxy of its own: what the proxy
// counts, the node sent.
type node struct {
	*rig.Node
	db *dbtest.CutProxy
}

// statements is the node's count of statements that reached MariaDB, by
// its proxy.
func (n *node) statements() int64 { return n.db.Statements() }

// TestBootstrapFromTopicsProof is the proof of `serve
// --cache-bootstrap=topic`, on 1,000 products in 3 warehouses:
//
//  1. the relay snapshots them into the broker, then updates, deletes,
//     re-inserts and a warehouse renamed go through it, and it publishes
//     everything (drain);
//  2. a node started from the topics becomes ready without one statement
//     reaching MariaDB between its start and /readyz 200, and answers every
//     product as MariaDB holds it; a miss then does reach MariaDB, so the
//     count could have shown a query;
//  3. the same node started with MariaDB unreachable (its proxy cut)
//     becomes ready and answers every product from the topics; a product
//     no topic holds answers 503 unavailable, and once MariaDB is reachable
//     it is answered, with nothing else done;
//  4. two such nodes behind the gateway, restarted one after the other
//     under ~100 requests a second: no request fails, no answer differs
//     from MariaDB, and neither node sends a statement while it starts.
//
// The node runs with --stale-if-error at its default (10m).
func TestBootstrapFromTopicsProof(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the relay, read nodes and the gateway as processes")
	}
	began := time.Now()
	ctx := t.Context()
	dsn, gdb := dbtest.MySQLDSN(t)
	seed, err := database.Seed(ctx, gdb, products, warehouses)
	if err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: "boot", Nodes: 2, Partitions: partitions,
		NodeArgs: []string{"--cache-bootstrap", "topic"}})
	nodes := make([]*node, len(p.Nodes))
	for i, n := range p.Nodes {
		nodes[i] = &node{Node: n, db: proxied(t, dsn, n)}
	}
	ids := make([]int64, products)
	for i := range ids {
		ids[i] = int64(i + 1)
	}

	// 1. Snapshot, changes, drain.
	p.StartRelay()
	changed := churn(t, p.DB, seed.Version)
	p.DrainNodes(limit, nil)
	want, err := p.DatabaseAnswers(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	absent := 0
	for _, a := range want {
		if len(a.Warehouses) == 0 {
			absent++
		}
	}
	t.Logf("bootstrap proof: %d products × %d warehouses snapshotted by the relay, then %d row changes (%s), drained in %s; %d products are now absent",
		products, warehouses, changed.rows, changed.what, time.Since(began).Round(100*time.Millisecond), absent)

	// 2. A node from the topics: no statement to start, every answer
	// as the database holds it.
	n := nodes[0]
	tookReady := startCounted(t, p, n)
	compare(t, p, n, ids, "bootstrapped with the database up")
	before := n.statements()
	if code, body, err := p.Get(fmt.Sprintf("%s/v1/products/%d/inventory", n.Base(), unknown)); err != nil || code != http.StatusNotFound {
		t.Fatalf("product %d, in no topic: %d %s %v, want 404 from the database", unknown, code, body, err)
	}
	if n.statements() == before {
		t.Fatalf("a miss reached the database without its proxy counting a statement: the count of 0 above proves nothing")
	}
	t.Logf("bootstrap proof: %s ready %s after its start with 0 statements to MariaDB; all %d products compared with MariaDB, 0 differ; a miss then sent %d statements",
		n.Name, tookReady.Round(10*time.Millisecond), products, n.statements()-before)

	// 3. The same node with the database unreachable.
	if err := n.Child.Terminate(); err != nil {
		t.Fatalf("%s: graceful stop: %v", n.Name, err)
	}
	n.db.Cut()
	tookReady = startCounted(t, p, n)
	compare(t, p, n, ids, "bootstrapped with the database unreachable")
	missURL := fmt.Sprintf("%s/v1/products/%d/inventory", n.Base(), unknown)
	if code, body, err := p.Get(missURL); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("product %d, in no topic, the database unreachable: %d %s %v, want 503 unavailable", unknown, code, body, err)
	}
	n.db.Restore(t)
	reachable := time.Now()
	polltest.Until(t, limit, "the miss answered once the database is reachable", func() bool {
		code, _, err := p.Get(missURL)
		return err == nil && code == http.StatusNotFound
	})
	t.Logf("bootstrap proof: %s ready %s after its start with MariaDB unreachable; all %d products answered from the topics, 0 differ; "+
		"a miss answered 503 unavailable, then 404 from MariaDB %s after it was reachable again",
		n.Name, tookReady.Round(10*time.Millisecond), products, time.Since(reachable).Round(10*time.Millisecond))

	// 4. A rolling restart of two nodes behind the gateway, under load.
	startCounted(t, p, nodes[1])
	gateway := startGateway(t, p)
	l := &load{client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: maxInFlight}},
		base: gateway, want: want}
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); l.run(loadCtx) }()
	t.Cleanup(func() { stopLoad(); <-loadDone })
	loadBegan := time.Now()
	time.Sleep(time.Second) // traffic before the first stop
	// Each node in turn stopped (SIGTERM), started and waited for until
	// /readyz answers 200, as an orchestrator would; then the next. When
	// the gateway had it serving again is measured on the side.
	var steps []string
	seen := make(chan string, len(nodes))
	for _, n := range nodes {
		stopping := time.Now()
		if err := n.Child.Terminate(); err != nil {
			t.Errorf("%s: graceful stop: %v", n.Name, err)
		}
		stopped := time.Since(stopping)
		took := startCounted(t, p, n)
		ready := time.Now()
		go func() {
			seen <- fmt.Sprintf("%s serving in the gateway %s after /readyz", n.Name, servingAfter(p, gateway, n, ready))
		}()
		steps = append(steps, fmt.Sprintf("%s stopped in %s, ready %s after its start", n.Name,
			stopped.Round(10*time.Millisecond), took.Round(10*time.Millisecond)))
	}
	for range nodes {
		steps = append(steps, <-seen)
	}
	time.Sleep(time.Second) // traffic after the last start
	stopLoad()
	<-loadDone
	elapsed := time.Since(loadBegan)
	t.Logf("bootstrap proof: rolling restart through the gateway: %d requests in %s (%.0f/s, %d batches, %d product answers compared with MariaDB): %d failed, %d wrong; %s, each with 0 statements to MariaDB",
		l.requests.Load(), elapsed.Round(100*time.Millisecond), float64(l.requests.Load())/elapsed.Seconds(), l.batches.Load(), l.answers.Load(),
		l.failed.Load(), l.wrong.Load(), strings.Join(steps, ", "))
	if l.failed.Load()+l.wrong.Load() > 0 {
		t.Errorf("rolling restart: %d of %d requests failed, %d answers wrong; first problems:\n%s",
			l.failed.Load(), l.requests.Load(), l.wrong.Load(), l.problems.String())
	}
	if l.requests.Load() == 0 {
		t.Error("rolling restart: no request was made")
	}
	t.Logf("bootstrap proof: done in %s", time.Since(began).Round(100*time.Millisecond))
}

// proxied gives n a database proxy of its own: n's --db points at it.
func proxied(t *testing.T, dsn database.DSN, n *rig.Node) *dbtest.CutProxy {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := dbtest.NewCutProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr
	n.Args = append(n.Args, "--db", "mysql://"+cfg.FormatDSN())
	return proxy
}

// startCounted starts n and waits until /readyz answers 200; no statement
// may reach MariaDB from n meanwhile. It returns how long n took.
func startCounted(t *testing.T, p *rig.Pipeline, n *node) time.Duration {
	t.Helper()
	s0, pings0 := n.statements(), n.db.Pings()
	began := time.Now()
	p.StartNode(n.Node)
	n.Child.WaitUntil(t, n.Name+" ready", limit, func() bool { return p.OK(n.Base() + "/readyz") })
	took := time.Since(began)
	if s := n.statements() - s0; s != 0 {
		t.Fatalf("%s sent %d statements to MariaDB between its start and /readyz 200, want none", n.Name, s)
	}
	if q := apptest.MetricSum(p.Metrics(n.Base()), "gintoki_db_query_duration_seconds_count"); q != 0 {
		t.Fatalf("%s counts %v queries of its own at /readyz 200, want none", n.Name, q)
	}
	t.Logf("%s: ready %s after its start; 0 statements, %d pings (readiness probes) through its proxy",
		n.Name, took.Round(10*time.Millisecond), n.db.Pings()-pings0)
	return took
}

// compare fails the test when any product n answers differs from what
// MariaDB holds, or was not answered from n's cache: the topics hold every
// one of them, deleted ones included.
func compare(t *testing.T, p *rig.Pipeline, n *node, ids []int64, when string) {
	t.Helper()
	misses := func() float64 {
		v, _ := apptest.Metric(p.Metrics(n.Base()), `gintoki_cache_lookups_total{result="miss"}`)
		return v
	}
	m0 := misses()
	diffs, err := p.Differences(t.Context(), n.Node, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("%s: %d of %d products differ from MariaDB:\n%s", when, len(diffs), len(ids), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
	if m := misses() - m0; m != 0 {
		t.Fatalf("%s: %v of %d products were cache misses, want every one answered from the topics", when, m, len(ids))
	}
}

// startGateway starts `gintoki gateway` over every node and returns its base
// URL once it calls each of them.
func startGateway(t *testing.T, p *rig.Pipeline) string {
	t.Helper()
	var backends []string
	for _, n := range p.Nodes {
		backends = append(backends, n.GRPCAddr)
	}
	addr := apptest.FreeAddr(t)
	base := "http://" + addr
	gw := rig.StartGintoki(t, "gateway", "--backend", strings.Join(backends, ","), "--http-addr", addr,
		"--request-timeout", "10s", "--log-level", "warn", "--log-format", "text")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway's last output:\n%s", gw.Stderr())
		}
	})
	gw.WaitUntil(t, "the gateway calling every node", limit, func() bool {
		for _, n := range p.Nodes {
			if !serving(p, base, n) {
				return false
			}
		}
		return true
	})
	return base
}

// serving reports whether the gateway calls n.
func serving(p *rig.Pipeline, gateway string, n *rig.Node) bool {
	v, ok := apptest.Metric(p.Metrics(gateway), fmt.Sprintf("%s{backend=%q}", fleet.ServingName, n.GRPCAddr))
	return ok && v == 1
}

// servingAfter polls the gateway until it calls n and says how long after
// since that was ("never" after limit).
func servingAfter(p *rig.Pipeline, gateway string, n *node, since time.Time) string {
	for time.Since(since) < limit {
		if serving(p, gateway, n.Node) {
			return time.Since(since).Round(10 * time.Millisecond).String()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "never"
}

// changes is what churn did.
type changes struct {
	rows int64
	what string
}

// churn changes the seeded rows through SQL, as a shop would, after the
// relay's snapshot: updates (some rows twice), whole products deleted,
// single rows deleted, both re-inserted (some updated again), and a
// warehouse renamed. version is the seed's row version.
func churn(t *testing.T, db *sql.DB, version uint64) changes {
	t.Helper()
	reinsert := version + 100
	steps := []struct {
		what string
		q    string
		args []any
	}{
		{"updates", "UPDATE stock_items SET qty_salable = qty_salable + 1, version = version + 1 WHERE product_id % 3 = 0", nil},
		{"updates again", "UPDATE stock_items SET qty_salable = qty_salable + 100, version = version + 1 WHERE product_id % 15 = 0 AND warehouse_id = 1", nil},
		{"products deleted", "DELETE FROM stock_items WHERE product_id BETWEEN 901 AND 950", nil},
		{"rows deleted", "DELETE FROM stock_items WHERE warehouse_id = 2 AND product_id % 7 = 0 AND product_id <= 900", nil},
		{"products re-inserted", "INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) " +
			"SELECT p.seq, w.id, p.seq % 97 + w.id, ?, NOW(6) FROM seq_901_to_925 p CROSS JOIN warehouses w", []any{reinsert}},
		{"rows re-inserted", "INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) " +
			"SELECT seq, 2, 500 + seq % 89, ?, NOW(6) FROM seq_14_to_900_step_14", []any{reinsert}},
		{"re-inserted rows updated", "UPDATE stock_items SET qty_salable = qty_salable + 7, version = version + 1 WHERE product_id BETWEEN 911 AND 915 OR (product_id % 28 = 0 AND product_id <= 900 AND warehouse_id = 2)", nil},
		{"warehouse renamed", "UPDATE warehouses SET code = 'WH-X02', version = version + 1 WHERE id = 2", nil},
	}
	var c changes
	var parts []string
	for _, s := range steps {
		res, err := db.Exec(s.q, s.args...)
		if err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("%s: no row changed", s.what)
		}
		c.rows += n
		parts = append(parts, fmt.Sprintf("%s %d", s.what, n))
	}
	c.what = strings.Join(parts, ", ")
	return c
}
