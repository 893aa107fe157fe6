package pipelinetorture

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/infrastructure/database"
)

// qtyBase: every write sets qty_salable to qtyBase plus the row's version
// minus the seed's, so the quantity a reader gets tells which version of
// the row it saw. Seeded quantities (database.SeedQty) are below it.
const qtyBase = 1000

// stableWarehouses: warehouses 1 and 2 are renamed but never deactivated,
// so a row missing there from an answer is a row the node holds deleted.
const stableWarehouses = 2

// rank is the position of a row version among the writes of the run: 0 for
// the seed, n for the n-th version handed out. Readers compare ranks.
func rankOfQty(qty int32) uint64 {
	if qty < qtyBase {
		return 0
	}
	return uint64(qty - qtyBase)
}

// change is one committed write of a row, kept for failure reports.
type change struct {
	op   byte   // 'c' insert, 'u' update, 'd' delete; for warehouses 'u'
	rank uint64 // version - seed version; for a delete, the version the row had
	how  string // single, multi (one statement, several rows), tx
	note string // warehouses: what changed
}

func (c change) String() string {
	s := fmt.Sprintf("%c@%d(%s)", c.op, c.rank, c.how)
	if c.note != "" {
		s += "[" + c.note + "]"
	}
	return s
}

const historyLen = 10

// history keeps the last changes of one row.
type history struct {
	last [historyLen]change
	n    int
}

func (h *history) add(c change) {
	h.last[h.n%historyLen] = c
	h.n++
}

func (h *history) String() string {
	var parts []string
	for i := max(0, h.n-historyLen); i < h.n; i++ {
		parts = append(parts, h.last[i%historyLen].String())
	}
	if h.n > historyLen {
		return fmt.Sprintf("... %d earlier, then %s", h.n-historyLen, strings.Join(parts, " "))
	}
	return strings.Join(parts, " ")
}

// stockRow is what the writers know of one stock_items row. Its lock is
// held from taking a version to the commit, so the row's versions are
// committed in the order they were handed out.
type stockRow struct {
	mu      sync.Mutex
	idx     int
	p, w    int64
	exists  bool
	ever    bool // existed at some point: an insert of it is a re-insert
	version uint64
	hist    history
	// deletes are the ranks the row's committed deletes carried, in
	// commit order (so ascending); readers use them, under delMu.
	delMu   sync.Mutex
	deletes []uint64
}

// firstDeleteFrom returns the lowest rank at least from that a committed
// delete of the row carried.
func (r *stockRow) firstDeleteFrom(from uint64) (uint64, bool) {
	r.delMu.Lock()
	defer r.delMu.Unlock()
	i, _ := slices.BinarySearch(r.deletes, from)
	if i == len(r.deletes) {
		return 0, false
	}
	return r.deletes[i], true
}

// warehouseRow is what the writers know of one warehouse.
type warehouseRow struct {
	mu sync.Mutex
	whState
	hist history
}

type whState struct {
	id      int64
	code    string
	active  bool
	version uint64
}

// writeStats counts committed writes.
type writeStats struct {
	writes, inserts, reinserts, updates, deletes atomic.Int64
	warehouseChanges, statements, multiRow, txs  atomic.Int64
	rollbacks, retries                           atomic.Int64
}

// model is the writers' side in version order (gintoki's own tables): the
// rows, the version counter and the statements that change them.
type model struct {
	writeLoad
	seedVersion uint64
	next        atomic.Uint64 // the last version handed out
	products    int
	seeded      int
	warehouses  int
	rows        []stockRow
	whs         []warehouseRow
}

// newVersionWorkload seeds gintoki's own tables: every row and warehouse at
// the seed's version, which the writers then move on.
func newVersionWorkload(t *testing.T, gdb *gorm.DB, wdb *sql.DB) (workload, string) {
	seed, err := database.Seed(context.Background(), gdb, seededProducts, warehouses)
	if err != nil {
		t.Fatal(err)
	}
	return newModel(wdb, seed.Version, seededProducts+newProducts, seededProducts, warehouses,
		func(id int64) string { return database.WarehouseCode(id, warehouses) }), ""
}

func (m *model) load() *writeLoad { return &m.writeLoad }

func newModel(db *sql.DB, seedVersion uint64, products, seeded, warehouses int, codes func(int64) string) *model {
	m := &model{writeLoad: writeLoad{db: db}, seedVersion: seedVersion, products: products, seeded: seeded, warehouses: warehouses,
		rows: make([]stockRow, products*warehouses), whs: make([]warehouseRow, warehouses)}
	m.next.Store(seedVersion)
	for p := 1; p <= products; p++ {
		for w := 1; w <= warehouses; w++ {
			r := m.row(int64(p), int64(w))
			r.idx, r.p, r.w = (p-1)*warehouses+w-1, int64(p), int64(w)
			if p <= seeded {
				r.exists, r.ever, r.version = true, true, seedVersion
			}
		}
	}
	for w := range m.whs {
		m.whs[w].whState = whState{id: int64(w + 1), code: codes(int64(w + 1)), active: true, version: seedVersion}
	}
	return m
}

func (m *model) row(p, w int64) *stockRow { return &m.rows[(p-1)*int64(m.warehouses)+w-1] }

func (m *model) newVersion() uint64 { return m.next.Add(1) }

func (m *model) qty(version uint64) int32 { return int32(qtyBase + version - m.seedVersion) }

func (m *model) rank(version uint64) uint64 { return version - m.seedVersion }

// renamedCode is the code a rename at version gives warehouse id: its
// first letter moves with the version, so renames reorder the warehouses
// in answers; the id and the rename's rank can be read back (parseCode).
func (m *model) renamedCode(id int64, version uint64) string {
	rank := m.rank(version)
	return fmt.Sprintf("%c-%d.%d", 'A'+rune(rank%26), id, rank)
}

// pickProduct prefers a hot tenth of the products half of the time, so
// writes, fills and reads of the same rows collide often.
func pickProduct(rng *rand.Rand, products int) int64 {
	if rng.IntN(2) == 0 {
		return int64(rng.IntN(max(1, products/10)) + 1)
	}
	return int64(rng.IntN(products) + 1)
}

// stmt is one SQL statement and how many rows it must report affected.
type stmt struct {
	query    string
	args     []any
	affected int64
}

// unit is a statement or a transaction being built: the rows it locked,
// their state as the unit leaves them, and its statements.
type unit struct {
	m        *model
	how      string
	rows     []*stockRow // locked, in index order
	wh       *warehouseRow
	state    map[*stockRow]rowState
	whState  *whState // the warehouse as the unit leaves it
	stmts    []stmt
	changes  map[*stockRow][]change
	whChange []change
	rollback bool
}

type rowState struct {
	exists  bool
	version uint64
}

func (m *model) lock(how string, rows []*stockRow, wh *warehouseRow) *unit {
	slices.SortFunc(rows, func(a, b *stockRow) int { return a.idx - b.idx })
	rows = slices.Compact(rows)
	u := &unit{m: m, how: how, rows: rows, wh: wh, state: map[*stockRow]rowState{}, changes: map[*stockRow][]change{}}
	for _, r := range rows {
		r.mu.Lock()
		u.state[r] = rowState{r.exists, r.version}
	}
	if wh != nil {
		wh.mu.Lock()
		c := wh.whState
		u.whState = &c
	}
	return u
}

func (u *unit) unlock() {
	if u.wh != nil {
		u.wh.mu.Unlock()
	}
	for i := len(u.rows) - 1; i >= 0; i-- {
		u.rows[i].mu.Unlock()
	}
}

// stockWrite adds the natural next write of r: an insert when it does not
// exist, else an update, or a delete one time in deleteOneIn.
func (u *unit) stockWrite(rng *rand.Rand, r *stockRow, deleteOneIn int) {
	st := u.state[r]
	switch {
	case !st.exists:
		v := u.m.newVersion()
		u.add(stmt{"INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (?, ?, ?, ?, NOW(6))",
			[]any{r.p, r.w, u.m.qty(v), v}, 1})
		u.record(r, 'c', v, true)
	case rng.IntN(deleteOneIn) == 0:
		u.add(stmt{"DELETE FROM stock_items WHERE product_id = ? AND warehouse_id = ?", []any{r.p, r.w}, 1})
		u.record(r, 'd', st.version, false)
	default:
		v := u.m.newVersion()
		u.add(stmt{"UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = NOW(6) WHERE product_id = ? AND warehouse_id = ?",
			[]any{u.m.qty(v), v, r.p, r.w}, 1})
		u.record(r, 'u', v, true)
	}
}

// keyed is a row the writers know, by its key.
type keyed interface{ key() rowKey }

func (r *stockRow) key() rowKey { return rowKey{r.p, r.w} }

// inPairs is the placeholders and arguments of an IN list of the rows'
// (product, warehouse) keys.
func inPairs[R keyed](rows []R) (string, []any) {
	ph := make([]string, len(rows))
	var args []any
	for i, r := range rows {
		ph[i] = "(?, ?)"
		k := r.key()
		args = append(args, k.p, k.w)
	}
	return strings.Join(ph, ", "), args
}

// multiRow adds one statement over every locked row: an upsert (inserts
// and updates in one statement), or an update or delete of the rows that
// exist.
func (u *unit) multiRow(rng *rand.Rand) {
	var existing []*stockRow
	for _, r := range u.rows {
		if u.state[r].exists {
			existing = append(existing, r)
		}
	}
	switch choice := rng.IntN(3); {
	case choice == 0 && len(existing) >= 1:
		ph, args := inPairs(existing)
		u.add(stmt{"DELETE FROM stock_items WHERE (product_id, warehouse_id) IN (" + ph + ")", args, int64(len(existing))})
		for _, r := range existing {
			u.record(r, 'd', u.state[r].version, false)
		}
	case choice == 1 && len(existing) >= 1:
		v := u.m.newVersion()
		ph, args := inPairs(existing)
		u.add(stmt{"UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = NOW(6) WHERE (product_id, warehouse_id) IN (" + ph + ")",
			append([]any{u.m.qty(v), v}, args...), int64(len(existing))})
		for _, r := range existing {
			u.record(r, 'u', v, true)
		}
	default:
		v := u.m.newVersion()
		ph := make([]string, len(u.rows))
		var args []any
		var affected int64
		for i, r := range u.rows {
			ph[i] = "(?, ?, ?, ?, NOW(6))"
			args = append(args, r.p, r.w, u.m.qty(v), v)
			op := byte('c')
			affected++
			if u.state[r].exists {
				op = 'u'
				affected++ // an upsert counts an updated row twice
			}
			u.record(r, op, v, true)
		}
		u.add(stmt{"INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES " + strings.Join(ph, ", ") +
			" ON DUPLICATE KEY UPDATE qty_salable = VALUES(qty_salable), version = VALUES(version), updated_at = VALUES(updated_at)", args, affected})
	}
}

// warehouseWrite renames the locked warehouse, (de)activates it, or both;
// it stays active most of the time, and the stable ones always.
func (u *unit) warehouseWrite(rng *rand.Rand) {
	w := u.whState
	v := u.m.newVersion()
	rename, toggle := true, false
	switch {
	case w.id <= stableWarehouses:
	case !w.active:
		toggle, rename = true, rng.IntN(2) == 0
	case rng.IntN(3) == 0:
		toggle, rename = true, rng.IntN(3) == 0
	}
	var notes []string
	if toggle {
		w.active = !w.active
		notes = append(notes, map[bool]string{true: "on", false: "off"}[w.active])
	}
	if rename {
		w.code = u.m.renamedCode(w.id, v)
		notes = append(notes, "code "+w.code)
	}
	w.version = v
	u.add(stmt{"UPDATE warehouses SET code = ?, is_active = ?, version = ?, updated_at = NOW(6) WHERE id = ?",
		[]any{w.code, w.active, v, w.id}, 1})
	u.whChange = append(u.whChange, change{op: 'u', rank: u.m.rank(v), how: u.how, note: strings.Join(notes, ",")})
}

func (u *unit) add(s stmt) { u.stmts = append(u.stmts, s) }

func (u *unit) record(r *stockRow, op byte, version uint64, existsAfter bool) {
	u.changes[r] = append(u.changes[r], change{op: op, rank: u.m.rank(version), how: u.how})
	u.state[r] = rowState{existsAfter, version}
}

// run executes the unit (in a transaction when it has several statements
// or is one), retries it on a deadlock, and on commit updates the rows and
// the counters. The caller unlocks.
func (u *unit) run(ctx context.Context) error {
	committed, err := u.m.runUnit(ctx, u.how, len(u.stmts), u.rollback, u.exec)
	if !committed {
		return err
	}
	s := &u.m.stats
	for r, cs := range u.changes {
		for _, c := range cs {
			switch {
			case c.op == 'd':
				s.deletes.Add(1)
			case c.op == 'u':
				s.updates.Add(1)
			case r.ever:
				s.reinserts.Add(1)
			default:
				s.inserts.Add(1)
			}
			switch c.op {
			case 'c':
				r.ever = true
			case 'd':
				r.delMu.Lock()
				r.deletes = append(r.deletes, c.rank)
				r.delMu.Unlock()
			}
			r.hist.add(c)
			s.writes.Add(1)
		}
		st := u.state[r]
		r.exists, r.version = st.exists, st.version
	}
	if u.whState != nil && len(u.whChange) > 0 {
		u.wh.whState = *u.whState
		for _, c := range u.whChange {
			u.wh.hist.add(c)
			s.warehouseChanges.Add(1)
			s.writes.Add(1)
		}
	}
	return nil
}

func (u *unit) exec(ctx context.Context) error {
	if len(u.stmts) == 1 && u.how != "tx" {
		return execChecked(ctx, u.m.db, u.stmts[0])
	}
	tx, err := u.m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, s := range u.stmts {
		if err := execChecked(ctx, tx, s); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if u.rollback {
		return tx.Rollback()
	}
	return tx.Commit()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// execChecked runs s and fails when it changed another number of rows than
// the model expects: the model and the database have parted.
func execChecked(ctx context.Context, db execer, s stmt) error {
	res, err := db.ExecContext(ctx, s.query, s.args...)
	if err != nil {
		return fmt.Errorf("%s %v: %w", s.query, s.args, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", s.query, err)
	}
	if n != s.affected {
		return fmt.Errorf("%s %v: %d rows affected, the model expects %d", s.query, s.args, n, s.affected)
	}
	return nil
}

// plan is one unit of work picked at random: mostly single-row writes,
// sometimes a multi-row statement, a transaction (some rolled back) or a
// warehouse change. Both orders' writers draw the same plans.
type plan struct {
	how  string   // single, multi, tx
	rows []rowKey // the stock rows it may write
	wh   int64    // the warehouse it changes, 0 for none
}

func pickPlan(rng *rand.Rand, products, warehouses int) plan {
	row := func(p int64) rowKey { return rowKey{p, int64(rng.IntN(warehouses) + 1)} }
	pick := func() int64 { return pickProduct(rng, products) }
	anyWarehouse := func() int64 { return int64(rng.IntN(warehouses) + 1) }
	switch n := rng.IntN(1000); {
	case n < 8:
		return plan{how: "single", wh: anyWarehouse()}
	case n < 60:
		pl := plan{how: "tx", rows: make([]rowKey, 2+rng.IntN(3))}
		for i := range pl.rows {
			pl.rows[i] = row(pick())
		}
		if rng.IntN(4) == 0 {
			pl.wh = anyWarehouse()
		}
		return pl
	case n < 120:
		pl := plan{how: "multi"}
		if rng.IntN(2) == 0 { // every warehouse of one product
			p := pick()
			for w := 1; w <= warehouses; w++ {
				pl.rows = append(pl.rows, rowKey{p, int64(w)})
			}
		} else { // one warehouse, several products
			w := anyWarehouse()
			for range 2 + rng.IntN(4) {
				pl.rows = append(pl.rows, rowKey{pick(), w})
			}
		}
		return pl
	}
	return plan{how: "single", rows: []rowKey{row(pick())}}
}

// work is a unit of a plan, its rows locked: what each order's unit does.
type work interface {
	locked() int                                 // how many distinct rows it locked
	writeRow(rng *rand.Rand, i, deleteOneIn int) // the natural next write of locked row i
	multiRow(rng *rand.Rand)
	writeWarehouse(rng *rand.Rand)
	setRollback()
	run(ctx context.Context) error
	unlock()
}

// do carries the plan out on u and unlocks it.
func (pl plan) do(ctx context.Context, rng *rand.Rand, u work) error {
	defer u.unlock()
	switch {
	case pl.how == "tx":
		for range 2 + rng.IntN(5) {
			// The same row may be written twice: deleted and
			// re-inserted, or inserted and updated, in one transaction.
			u.writeRow(rng, rng.IntN(u.locked()), 3)
		}
		if pl.wh != 0 {
			u.writeWarehouse(rng)
		}
		if rng.IntN(10) == 0 {
			u.setRollback()
		}
	case pl.how == "multi":
		u.multiRow(rng)
	case pl.wh != 0:
		u.writeWarehouse(rng)
	default:
		u.writeRow(rng, 0, 5)
	}
	return u.run(ctx)
}

func (u *unit) locked() int { return len(u.rows) }
func (u *unit) writeRow(rng *rand.Rand, i, deleteOneIn int) {
	u.stockWrite(rng, u.rows[i], deleteOneIn)
}
func (u *unit) writeWarehouse(rng *rand.Rand) { u.warehouseWrite(rng) }
func (u *unit) setRollback()                  { u.rollback = true }

// step does one unit of work, picked at random.
func (m *model) step(ctx context.Context, rng *rand.Rand) error {
	pl := pickPlan(rng, m.products, m.warehouses)
	rows := make([]*stockRow, len(pl.rows))
	for i, k := range pl.rows {
		rows[i] = m.row(k.p, k.w)
	}
	var wh *warehouseRow
	if pl.wh != 0 {
		wh = &m.whs[pl.wh-1]
	}
	return pl.do(ctx, rng, m.lock(pl.how, rows, wh))
}

// write runs writers until target writes are committed.
func (m *model) write(ctx context.Context, writers int, target int64, seed uint64) error {
	return m.runWriters(ctx, writers, target, seed, m.step)
}
