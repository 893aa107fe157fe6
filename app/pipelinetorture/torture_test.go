package pipelinetorture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

const (
	seededProducts = 300
	// Products the writers add that the seed did not: they start as
	// "not found" (a cached negative entry) and get rows later.
	newProducts    = 30
	warehouses     = 4
	writers        = 8
	readersPerNode = 2
	readNodes      = 2
	// Every cycleWrites writes the relay, the nodes and the broker are
	// disrupted once each (a run shorter than that is one cycle).
	cycleWrites = 100_000
	// A run with no write for this long has hung.
	stallLimit = 3 * time.Minute
)

// TestPipelineTorture: MariaDB -> gintoki relay -> broker -> gintoki serve,
// all real, under concurrent writes of every kind, while the relay is
// SIGKILLed (once right after the server moved to a new binlog file), the
// read nodes are stopped (SIGTERM) and killed (SIGKILL), and the broker
// restarts. No reader may see a row of a node go back, and once the feed has
// drained every product on every node equals the database. It runs in both
// orders: on gintoki's own tables, whose version column orders each row's
// changes, and on a shop's tables without any version column, mapped with
// --schema, where the binlog orders them. GINTOKI_SOAK_WRITES sets the
// number of writes of each (make soak).
func TestPipelineTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("the pipeline torture is not short")
	}
	t.Run("by-version", func(t *testing.T) { runTorture(t, "version column", newVersionWorkload) })
	t.Run("by-binlog", func(t *testing.T) { runTorture(t, "binlog order, shop schema", newShopWorkload) })
}

// workload is one mode of the torture: the tables, the writers that change
// them, and what the readers and the final comparison check against.
type workload interface {
	// load is the writers' side the disruptions pace themselves by.
	load() *writeLoad
	// write runs writers until target writes are committed.
	write(ctx context.Context, writers int, target int64, seed uint64) error
	// newView is what the readers of one node have seen of it.
	newView(rd *readers, node string) view
	// readDB reads what the database holds once the writers stopped.
	readDB(p *pipeline) dbState
	// matchesModel lists where the database differs from what the writers
	// committed: a fault of the test.
	matchesModel(s dbState) []string
	// explain says how a node's answer differs from the database, row by
	// row, tallying the kinds.
	explain(s dbState, d mismatch, kinds map[staleKind]int) string
	// explainBackwards details the rows readers saw go back.
	explainBackwards(p *pipeline, rd *readers) string
}

// view is what completed reads of one node have shown. before is called
// before a request for ids, with what is known then; the function it
// returns checks the request's answers against that and records what they
// show, so a read that started after another completed must not show an
// older state than that one did.
type view interface {
	before(ids []int64) func(answers []answer)
}

// setup makes and fills a mode's tables on the test's database and returns
// its workload and the schema mapping file the relay and the nodes get (""
// for gintoki's own tables).
type setup func(t *testing.T, gdb *gorm.DB, wdb *sql.DB) (workload, string)

func runTorture(t *testing.T, modeName string, setup setup) {
	target := writesWanted(t)
	ctx := context.Background()
	dsn, gdb := dbtest.MySQLDSN(t)
	wdb, err := sql.Open("mysql", dsn.Raw)
	if err != nil {
		t.Fatal(err)
	}
	wdb.SetMaxOpenConns(writers + 2)
	t.Cleanup(func() { wdb.Close() })
	w, schema := setup(t, gdb, wdb)
	l := w.load()

	p := newPipeline(t, dsn, gdb, readNodes, schema)
	p.StartRelay()
	for _, n := range p.nodes {
		p.StartNode(n.Node)
	}

	products := seededProducts + newProducts
	rd := newReaders(products, warehouses)
	readCtx, stopReading := context.WithCancel(ctx)
	var readWG sync.WaitGroup
	for i, n := range p.nodes {
		v := w.newView(rd, n.Name)
		for r := range readersPerNode {
			readWG.Add(1)
			go func() {
				defer readWG.Done()
				rd.read(readCtx, n.Name, n.Base(), v, uint64(i*readersPerNode+r))
			}()
		}
	}
	t.Cleanup(func() { stopReading(); readWG.Wait() })

	cycle := min(target, cycleWrites)
	l.gate.Store(0)
	rngSeed := uint64(time.Now().UnixNano())
	writeCtx, stopWriting := context.WithCancel(ctx)
	wr := &writing{done: make(chan struct{})}
	go func() {
		defer close(wr.done)
		wr.err = w.write(writeCtx, writers, target, rngSeed)
	}()
	t.Cleanup(func() { stopWriting(); <-wr.done })

	began := time.Now()
	var d disruptions
	p.disrupt(l, wr, target, cycle, &d)
	<-wr.done
	if wr.err != nil {
		t.Fatalf("writers: %v", wr.err)
	}
	wrote := time.Since(began)

	drainLimit := 2*time.Minute + time.Duration(target/1000)*time.Second
	drainBegan := time.Now()
	p.Drain(drainLimit)
	state := w.readDB(p)
	if bad := w.matchesModel(state); len(bad) > 0 {
		t.Fatalf("the database differs from what the writers committed (a fault of the test):\n%s", strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
	// A few ids past the last product were never written: 404 everywhere.
	diffs := p.converge(rd, state, products+5, warehouses, drainLimit)
	drained := time.Since(drainBegan)
	stopReading()
	readWG.Wait()

	messages := int64(0)
	for _, topic := range []string{p.StockTopic, p.WhTopic} {
		n, err := kafkatest.TopicSize([]string{p.Brokers()}, topic)
		if err != nil {
			t.Fatal(err)
		}
		messages += n
	}
	stale := map[int64]bool{}
	kinds := map[staleKind]int{}
	var report []string
	for _, d := range diffs {
		stale[d.product] = true
		report = append(report, w.explain(state, d, kinds))
	}
	for _, n := range p.nodes {
		t.Logf("%s change events by outcome (its last run): %v", n.Name, eventCounts(p.Metrics(n.Base())))
	}
	s := &l.stats
	t.Logf("pipeline torture (%s): %d writes (%d inserts, %d updates, %d deletes, %d re-inserts, %d warehouse changes) "+
		"in %d statements, %d multi-row statements, %d transactions (%d rolled back), %d deadlock retries; "+
		"%d messages on the change topics; %d binlog rotations, %d relay SIGKILLs, %d read node SIGTERMs and %d SIGKILLs, %d broker restarts; "+
		"%d reads (%d unavailable); %d stale products (%d product-node pairs), %d backwards reads, %d bad answers; writing %s, draining %s (seed %d)",
		modeName, s.writes.Load(), s.inserts.Load(), s.updates.Load(), s.deletes.Load(), s.reinserts.Load(), s.warehouseChanges.Load(),
		s.statements.Load(), s.multiRow.Load(), s.txs.Load(), s.rollbacks.Load(), s.retries.Load(),
		messages, d.binlogRotations, d.relayKills, d.nodeTerms, d.nodeKills, d.brokerRestarts,
		rd.stats.reads.Load(), rd.stats.unavailable.Load(), len(stale), len(diffs), rd.stats.backwards.Load(), rd.stats.malformed.Load(),
		wrote.Round(time.Second), drained.Round(time.Second), rngSeed)
	if sm, ok := w.(interface{ summary() string }); ok {
		t.Logf("of which: %s", sm.summary())
	}

	if len(diffs) > 0 {
		var tally []string
		for k, n := range kinds {
			tally = append(tally, fmt.Sprintf("%d %s", n, k))
		}
		sort.Strings(tally)
		ids := make([]int64, 0, len(stale))
		for id := range stale {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		t.Errorf("%d products (%v) differ from the database on %d product-node pairs after the feed drained; rows: %s\n%s",
			len(stale), ids, len(diffs), strings.Join(tally, ", "), strings.Join(report[:min(len(report), 40)], "\n"))
	}
	if n := rd.stats.backwards.Load() + rd.stats.malformed.Load(); n > 0 {
		t.Errorf("%d reads went back or were malformed:\n%s%s", n, rd.report(), w.explainBackwards(p, rd))
	}
}

// writeLoad is the writers' side that both modes share: the database they
// write, what they committed, and the gate that holds them.
type writeLoad struct {
	db    *sql.DB
	stats writeStats
	// gate stops writers taking new work once writes reach it, so the
	// disruptions happen while writes flow, whatever the machine's speed.
	gate atomic.Int64
}

// runUnit runs a unit of work with exec, again on a deadlock or a lock wait
// timeout (up to ten times), and counts its statements and what it was. It
// reports whether the unit committed (false: it was rolled back on
// purpose).
func (l *writeLoad) runUnit(ctx context.Context, how string, statements int, rollback bool, exec func(context.Context) error) (bool, error) {
	for attempt := 0; ; attempt++ {
		err := exec(ctx)
		var me *mysql.MySQLError
		if err != nil && errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) && attempt < 10 {
			l.stats.retries.Add(1)
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		if err != nil {
			return false, err
		}
		break
	}
	s := &l.stats
	s.statements.Add(int64(statements))
	if how == "tx" {
		s.txs.Add(1)
	}
	if rollback {
		s.rollbacks.Add(1)
		return false, nil
	}
	if how == "multi" {
		s.multiRow.Add(1)
	}
	return true, nil
}

// runWriters runs writers, each doing one unit of work at a time with step,
// until target writes are committed, waiting at the gate whenever it is
// reached. The first error stops every writer.
func (l *writeLoad) runWriters(ctx context.Context, writers int, target int64, seed uint64, step func(context.Context, *rand.Rand) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for ctx.Err() == nil && l.stats.writes.Load() < target {
				if l.stats.writes.Load() >= l.gate.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err := step(ctx, rng); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err, ok := <-errs; ok {
		return err
	}
	return ctx.Err()
}

// writing is the writers' outcome: done is closed once they stopped, err
// is why they stopped early.
type writing struct {
	done chan struct{}
	err  error
}

// disrupt runs the disruptions of each cycle at fixed points of the writes,
// each once every read node is live again (serving from its cache and
// applying events). The writers are held at a gate a little past each point
// until the disruption is done, so every one happens while writes flow and
// every node applies events for much of the run.
func (p *pipeline) disrupt(m *writeLoad, w *writing, target, cycle int64, d *disruptions) {
	t := p.T
	slack := max(cycle/20, 200)
	// While a process or the broker is down, writes go on: at least this
	// many, and for at least a second.
	whileDown := max(cycle/100, 100)
	waitWrites := func(n int64) {
		last, lastAt := m.stats.writes.Load(), time.Now()
		for {
			cur := m.stats.writes.Load()
			if cur >= n {
				return
			}
			select {
			case <-w.done:
				if w.err != nil {
					t.Fatalf("writers: %v", w.err)
				}
				return
			case <-time.After(10 * time.Millisecond):
			}
			if cur != last {
				last, lastAt = cur, time.Now()
			} else if time.Since(lastAt) > stallLimit {
				t.Fatalf("no write for %s at %d writes", stallLimit, cur)
			}
		}
	}
	live := func() {
		for _, n := range p.nodes {
			n.Child.WaitUntil(t, n.Name+" live", startLimit, func() bool { return p.OK(n.Base() + "/readyz") })
		}
	}
	down := func() {
		until := time.Now().Add(time.Second)
		n := m.stats.writes.Load() + whileDown
		m.gate.Store(max(m.gate.Load(), n+whileDown))
		waitWrites(n)
		time.Sleep(time.Until(until))
	}
	killRelay := func() {
		p.Relay.Kill()
		d.relayKills++
	}
	terminate := func(n *node) {
		if err := n.Child.Terminate(); err != nil {
			t.Errorf("%s: graceful stop: %v\n%s", n.Name, err, n.Child.Stderr())
		}
		d.nodeTerms++
	}
	kill := func(n *node) {
		n.Child.Kill()
		d.nodeKills++
	}
	a, b := p.nodes[0], p.nodes[1]
	steps := []struct {
		at   float64
		what string
		do   func()
	}{
		{0.08, "relay SIGKILL", func() { killRelay(); down(); p.StartRelay() }},
		// The server moves to a new binlog file (as max_binlog_size makes
		// it do under load) and the relay, killed after a few more writes,
		// must resume from a checkpoint in that file.
		{0.15, "binlog rotation, then relay SIGKILL", func() {
			if _, err := m.db.Exec("FLUSH BINARY LOGS"); err != nil {
				t.Fatalf("rotate the binlog: %v", err)
			}
			d.binlogRotations++
			down()
			killRelay()
			down()
			p.StartRelay()
		}},
		{0.22, "node SIGTERM", func() { terminate(a); p.StartNode(a.Node) }},
		{0.36, "broker restart", func() { p.StopBroker(); down(); p.StartBroker(); d.brokerRestarts++ }},
		{0.50, "node SIGKILL", func() { kill(b); down(); p.StartNode(b.Node) }},
		{0.64, "relay and node SIGKILL", func() { killRelay(); kill(a); down(); p.StartRelay(); p.StartNode(a.Node) }},
		// The node is live, filling its cache from the database, while
		// the relay is still down: the database is ahead of the feed, and
		// the feed's backlog arrives at a node that read newer rows.
		{0.78, "relay and node SIGKILL, the node back first", func() {
			killRelay()
			kill(b)
			down()
			p.StartNode(b.Node)
			m.gate.Store(max(m.gate.Load(), m.stats.writes.Load()+slack))
			live()
			down()
			p.StartRelay()
		}},
	}
	began := time.Now()
	for c := int64(0); c+cycle <= target; c += cycle {
		for _, st := range steps {
			at := c + int64(st.at*float64(cycle))
			m.gate.Store(at + slack)
			waitWrites(at)
			live()
			stepBegan := time.Now()
			st.do()
			t.Logf("%s at %d writes (%s into the run, %d writes done) took %s", st.what, at,
				stepBegan.Sub(began).Round(100*time.Millisecond), m.stats.writes.Load(), time.Since(stepBegan).Round(100*time.Millisecond))
		}
		a, b = b, a // the next cycle stops and kills the other node
	}
	// The writes after the last disruption reach live nodes too.
	m.gate.Store(m.stats.writes.Load() + whileDown)
	live()
	t.Logf("every node live again at %d writes (%s into the run)", m.stats.writes.Load(), time.Since(began).Round(100*time.Millisecond))
	m.gate.Store(math.MaxInt64)
}

// explainBackwards lists, for the first rows that went back, what the
// writers committed and what the stock topic holds for them.
func (m *model) explainBackwards(p *pipeline, rd *readers) string {
	rd.mu.Lock()
	rows := slices.Clone(rd.backRows)
	rd.mu.Unlock()
	if len(rows) == 0 {
		return ""
	}
	asked := map[rowKey]uint64{}
	for _, b := range rows {
		asked[b.k] = b.to / 2
	}
	events, err := p.rowEvents(m, asked, 16)
	var b strings.Builder
	b.WriteString("\nrows that went back (topic events from the rank shown on):")
	if err != nil {
		fmt.Fprintf(&b, " (topic not read: %v)", err)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %s product %d warehouse %d, %s -> %s; writes: %s; events: %s", r.node, r.k.p, r.k.w,
			describeState(r.from), describeState(r.to), m.row(r.k.p, r.k.w).hist.String(), strings.Join(events[r.k], " "))
	}
	return b.String()
}
