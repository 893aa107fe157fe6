package readafterproof

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

const (
	proofProducts = 200
	// proofWrites is how many writes are read back in each phase: a
	// quarter each through the node and the gateway, one product and a
	// batch.
	proofWrites = 2000
	writers     = 4
	// The node's settings the bounds are stated in.
	readAfterWait = 250 * time.Millisecond
	dbTimeout     = time.Second
)

// TestReadYourWritesProof is the proof: writers commit a write and
// read it back at once with its GTID, 2,000 times, single products and
// batches, through a read node and through the gateway (which forwards the
// token over gRPC): no answer may be older than the write. Then the same
// with the relay stopped (SIGSTOP): still no older answer, each within
// --read-after-wait + the database's deadline. A token for a transaction
// the database never had fails with 503 within the deadline, not a hang.
// Where the answers came from and how long they took are logged.
//
// Each writer owns the products whose id is its number modulo the
// writers, so after its commit a product holds exactly what its writer
// last wrote: the expected answer needs no database read.
func TestReadYourWritesProof(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the relay, a read node and the gateway as processes")
	}
	dsn, gdb := dbtest.MySQLDSN(t)
	if _, err := database.Seed(t.Context(), gdb, proofProducts, 3); err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: "ryw", Nodes: 1, Partitions: 3,
		NodeArgs: []string{"--max-staleness", "3s", "--source-heartbeats", "required",
			"--read-after-wait", readAfterWait.String(), "--db-timeout", dbTimeout.String()}})
	n := p.Nodes[0]
	p.StartRelay()
	p.StartNode(n)
	p.Drain(drainLimit)
	gwAddr := apptest.FreeAddr(t)
	gw := rig.StartGintoki(t, "gateway", "--backend", n.GRPCAddr, "--http-addr", gwAddr, "--log-level", "warn")
	gateway := "http://" + gwAddr
	gw.WaitUntil(t, "the gateway ready", drainLimit, func() bool { return p.OK(gateway + "/readyz") })
	n.Child.WaitUntil(t, "the node hearing the relay's positions", drainLimit, func() bool {
		v, ok := apptest.Metric(p.Metrics(n.Base()), "gintoki_cdc_source_positions")
		return ok && v == 1
	})
	ids := make([]int64, proofProducts)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if diffs, err := p.Differences(t.Context(), n, ids); err != nil || len(diffs) > 0 {
		t.Fatalf("before the writes: %v %v", diffs, err)
	}
	targets := map[string]string{"node": n.Base(), "gateway": gateway}
	w := newProofWriters(t, p.DB)

	live := w.run(t, targets, 0)
	t.Logf("relay running: %s", live)
	if live.older > 0 || live.failed > 0 {
		t.Fatalf("relay running: %d answers older than the write, %d failed", live.older, live.failed)
	}

	if err := p.Relay.Pause(); err != nil {
		t.Fatal(err)
	}
	stopped := w.run(t, targets, proofWrites)
	t.Logf("relay stopped: %s", stopped)
	if stopped.older > 0 || stopped.failed > 0 {
		t.Fatalf("relay stopped: %d answers older than the write, %d failed", stopped.older, stopped.failed)
	}
	if bound := readAfterWait + dbTimeout; stopped.max() > bound {
		t.Errorf("relay stopped: slowest answer %s, beyond --read-after-wait + --db-timeout (%s)", stopped.max(), bound)
	}
	if err := p.Relay.Resume(); err != nil {
		t.Fatal(err)
	}

	// A token the database never had: a transaction a million ahead.
	var pos string
	if err := p.DB.QueryRow("SELECT @@gtid_current_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	forged := forgedAhead(t, pos)
	for name, base := range targets {
		began := time.Now()
		_, _, err := rig.FetchAfter(t.Context(), p.Client, base, []int64{1}, 1, forged)
		took := time.Since(began)
		if !errors.Is(err, rig.ErrUnavailable) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("forged token %s through the %s: %v, want 503", forged, name, err)
		}
		if took > dbTimeout+5*time.Second {
			t.Fatalf("forged token through the %s: answered after %s, not within the deadline", name, took)
		}
		t.Logf("forged token %s through the %s: 503 after %s", forged, name, took.Round(time.Millisecond))
	}
}

// forgedAhead is a GTID of the server's own domain a million transactions
// ahead of pos (MariaDB's domain-server-seq).
func forgedAhead(t *testing.T, pos string) string {
	t.Helper()
	first, _, _ := strings.Cut(pos, ",")
	var domain, server, seq uint64
	if _, err := fmt.Sscanf(first, "%d-%d-%d", &domain, &server, &seq); err != nil {
		t.Fatalf("position %q: %v", pos, err)
	}
	return fmt.Sprintf("%d-%d-%d", domain, server, seq+1_000_000)
}

// proofWriters write and read back; last is what each product holds.
type proofWriters struct {
	db   *sql.DB
	mu   sync.Mutex
	last map[int64]int
}

func newProofWriters(t *testing.T, db *sql.DB) *proofWriters {
	t.Helper()
	w := &proofWriters{db: db, last: map[int64]int{}}
	rows, err := db.Query("SELECT product_id, qty_salable FROM stock_items WHERE warehouse_id = 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var qty int
		if err := rows.Scan(&id, &qty); err != nil {
			t.Fatal(err)
		}
		w.last[id] = qty
	}
	return w
}

// phaseResult is what one phase's reads found.
type phaseResult struct {
	mu            sync.Mutex
	sources       map[string]int
	took          []time.Duration
	older, failed int
	firstProblem  string
}

func (r *phaseResult) max() time.Duration {
	if len(r.took) == 0 {
		return 0
	}
	return slices.Max(r.took)
}

func (r *phaseResult) String() string {
	d := slices.Clone(r.took)
	slices.Sort(d)
	q := func(f float64) time.Duration {
		return d[min(int(f*float64(len(d))), len(d)-1)].Round(100 * time.Microsecond)
	}
	s := fmt.Sprintf("%d reads after writes: sources %v; commit to answer p50 %s, p99 %s, max %s; %d older, %d failed",
		len(d), r.sources, q(0.5), q(0.99), d[len(d)-1].Round(100*time.Microsecond), r.older, r.failed)
	if r.firstProblem != "" {
		s += "; first: " + r.firstProblem
	}
	return s
}

// run has writers writers commit proofWrites writes between them and
// read each back with its GTID, rotating over the targets and over one
// product and a batch.
func (w *proofWriters) run(t *testing.T, targets map[string]string, seq int) *phaseResult {
	t.Helper()
	r := &phaseResult{sources: map[string]int{}}
	names := []string{"node", "gateway"}
	ctx, cancel := context.WithTimeout(t.Context(), drainLimit)
	defer cancel()
	var wg sync.WaitGroup
	for k := range writers {
		wg.Go(func() {
			own := ownProducts(k)
			for i := k; i < proofWrites; i += writers {
				id := own[(i/writers)%len(own)]
				other := own[(i/writers+1)%len(own)]
				value := 100_000 + seq + i
				gtid, err := w.commit(ctx, id, value)
				if err != nil {
					r.problem(fmt.Sprintf("write %d: %v", i, err))
					return
				}
				ask := []int64{id}
				if i%2 == 1 {
					ask = []int64{id, other, 9_999_999}
				}
				began := time.Now()
				answers, src, err := rig.FetchAfter(ctx, http.DefaultClient, targets[names[(i/2)%2]], ask, i/4, gtid)
				took := time.Since(began)
				if err != nil {
					r.problem(fmt.Sprintf("read %d of product %d after %s: %v", i, id, gtid, err))
					continue
				}
				r.record(src, took, w.check(answers, id, other, value, i))
			}
		})
	}
	wg.Wait()
	return r
}

// ownProducts are the products writer k alone writes.
func ownProducts(k int) []int64 {
	var own []int64
	for id := int64(1); id <= proofProducts; id++ {
		if int(id)%writers == k {
			own = append(own, id)
		}
	}
	return own
}

// commit writes value into product id's warehouse-1 row and returns the
// transaction's GTID.
func (w *proofWriters) commit(ctx context.Context, id int64, value int) (string, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "UPDATE stock_items SET qty_salable = ?, version = version + 1 WHERE product_id = ? AND warehouse_id = 1", value, id); err != nil {
		return "", err
	}
	var gtid string
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid); err != nil {
		return "", err
	}
	w.mu.Lock()
	w.last[id] = value
	w.mu.Unlock()
	return gtid, nil
}

// check returns what is wrong with answers, "" when every product shows
// at least its writer's last write in warehouse 1 (WH-001).
func (w *proofWriters) check(answers []rig.Answer, id, other int64, value, i int) string {
	w.mu.Lock()
	want := map[int64]int{id: value, other: w.last[other]}
	w.mu.Unlock()
	for _, a := range answers {
		exp, mine := want[a.ProductID]
		if !mine {
			continue // the unknown product
		}
		got := -1
		for _, l := range a.Warehouses {
			if l.Code == "WH-001" {
				got = int(l.Qty)
			}
		}
		if got != exp {
			return fmt.Sprintf("read %d: product %d answered WH-001=%d, its writer last wrote %d", i, a.ProductID, got, exp)
		}
	}
	return ""
}

func (r *phaseResult) record(src string, took time.Duration, problem string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources[src]++
	r.took = append(r.took, took)
	if problem != "" {
		r.older++
		if r.firstProblem == "" {
			r.firstProblem = problem
		}
	}
}

func (r *phaseResult) problem(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	if r.firstProblem == "" {
		r.firstProblem = p
	}
}
