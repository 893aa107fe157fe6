package pipelinetorture

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// The torture in binlog order: the shop, whose tables have no
// version column, mapped with --schema. Nothing in a row tells how new it
// is, and values repeat: a re-insert brings back the very row that was
// deleted, a reservation released gives back the quantity it took, and an
// update of on_hand and reserved by the same amount sells as before. Only
// the binlog orders the changes, so the readers' check is built on the
// database's own history (shopcheck_test.go).
const (
	shopLocationsDDL = "CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL UNIQUE, enabled TINYINT(1) NOT NULL)"
	shopLevelsDDL    = "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, updated_at TIMESTAMP(3) NOT NULL, PRIMARY KEY (sku_id, location_id))"
	shopYAML         = `stock: {table: inventory_levels, product: sku_id, warehouse: location_id, salable: on_hand - reserved, version: ""}
warehouses: {table: locations, id: id, code: code, active: enabled, version: ""}
`
	// stableLocations: locations 1 and 2 are renamed but never disabled,
	// so a row missing there from an answer is a row the node holds
	// deleted (as stableWarehouses in version order).
	stableLocations = 2
	// locationCodes: each location is renamed among this many codes of
	// its own, so its names come back (and never collide with another
	// location's: codes are UNIQUE).
	locationCodes = 3
)

// shopEpoch is where updated_at values start; each write's is the epoch
// plus its tick in milliseconds, and a re-insert keeps the deleted row's.
var shopEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// levels is an inventory_levels row as the writers know it.
type levels struct {
	exists bool
	// had: the row had these values at some point (seeded, or written
	// once): a deleted row keeps them, for a re-insert of the same row.
	had              bool
	onHand, reserved int32
	tick             uint64 // updated_at, shopEpoch + tick ms
}

func (l levels) salable() int32 { return l.onHand - l.reserved }

func (l levels) updatedAt() string {
	return shopEpoch.Add(time.Duration(l.tick) * time.Millisecond).Format("2006-01-02 15:04:05.000")
}

// location is a locations row as the writers know it.
type location struct {
	code    string
	enabled bool
}

// shopRow is what the writers know of one inventory_levels row. Its lock
// is held from choosing a write to the commit, so its states are logged in
// commit order.
type shopRow struct {
	mu   sync.Mutex
	idx  int
	p, w int64
	cur  levels
	log  stateLog
}

// locRow is what the writers know of one location.
type locRow struct {
	mu  sync.Mutex
	id  int64
	cur location
	log stateLog
}

// shopStats counts what the shop's writers did beyond writeStats.
type shopStats struct {
	sameReinserts, reservedChanges, evenUpdates, disables, renames atomic.Int64
}

// shopModel is the writers' side in binlog order.
type shopModel struct {
	writeLoad
	mapping    domain.Mapping
	ticks      atomic.Uint64 // the last tick handed out
	products   int
	warehouses int
	rows       []shopRow
	locs       []locRow
	shop       shopStats
}

// newShopWorkload makes the shop's tables, seeds them, and writes the
// mapping file.
func newShopWorkload(t *testing.T, _ *gorm.DB, wdb *sql.DB) (workload, string) {
	file := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(file, []byte(shopYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newShopModel(wdb, seededProducts+newProducts, seededProducts, warehouses)
	var err error
	if m.mapping, err = config.ParseMapping([]byte(shopYAML)); err != nil {
		t.Fatal(err)
	}
	if err := m.seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, file
}

func newShopModel(db *sql.DB, products, seeded, warehouses int) *shopModel {
	m := &shopModel{writeLoad: writeLoad{db: db}, products: products, warehouses: warehouses,
		rows: make([]shopRow, products*warehouses), locs: make([]locRow, warehouses)}
	for p := 1; p <= products; p++ {
		for w := 1; w <= warehouses; w++ {
			r := m.row(int64(p), int64(w))
			r.idx, r.p, r.w = (p-1)*warehouses+w-1, int64(p), int64(w)
			if p <= seeded {
				r.cur = levels{exists: true, had: true, onHand: int32(10 + (p*7+w*3)%50), reserved: int32((p + w) % 3)}
			}
			r.log.states = []state{r.cur.state("seed")}
		}
	}
	for i := range m.locs {
		l := &m.locs[i]
		l.id = int64(i + 1)
		l.cur = location{code: locationCode(l.id, 0), enabled: true}
		l.log.states = []state{l.cur.state("seed")}
	}
	return m
}

func (m *shopModel) load() *writeLoad { return &m.writeLoad }

// summary says what the shop's writers did that version order has no word
// for.
func (m *shopModel) summary() string {
	s := &m.shop
	return fmt.Sprintf("%d re-inserts with the values the deleted row had, %d reservation changes, %d updates keeping the salable quantity, %d locations disabled, %d renamed",
		s.sameReinserts.Load(), s.reservedChanges.Load(), s.evenUpdates.Load(), s.disables.Load(), s.renames.Load())
}

func (r *shopRow) key() rowKey { return rowKey{r.p, r.w} }

func (m *shopModel) row(p, w int64) *shopRow { return &m.rows[(p-1)*int64(m.warehouses)+w-1] }

// locationCode is the n-th code of location id: "L3-b". The id can be read
// back (parseLocationCode).
func locationCode(id int64, n int) string { return fmt.Sprintf("L%d-%c", id, 'a'+n) }

func (m *shopModel) seed(ctx context.Context) error {
	for _, ddl := range []string{shopLocationsDDL, shopLevelsDDL} {
		if _, err := m.db.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("create the shop's tables: %w", err)
		}
	}
	for i := range m.locs {
		l := &m.locs[i]
		if _, err := m.db.ExecContext(ctx, "INSERT INTO locations (id, code, enabled) VALUES (?, ?, ?)", l.id, l.cur.code, l.cur.enabled); err != nil {
			return fmt.Errorf("seed location %d: %w", l.id, err)
		}
	}
	var ph []string
	var args []any
	for i := range m.rows {
		r := &m.rows[i]
		if !r.cur.exists {
			continue
		}
		ph = append(ph, "(?, ?, ?, ?, ?)")
		args = append(args, r.p, r.w, r.cur.onHand, r.cur.reserved, r.cur.updatedAt())
	}
	_, err := m.db.ExecContext(ctx, "INSERT INTO inventory_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES "+strings.Join(ph, ", "), args...)
	if err != nil {
		return fmt.Errorf("seed inventory_levels: %w", err)
	}
	return nil
}

// fresh is a new state of a row: on_hand never written before (so most
// salable quantities are new, which keeps the check sharp), a small
// reservation, a new updated_at.
func (m *shopModel) fresh(rng *rand.Rand) levels {
	tick := m.ticks.Add(1)
	return levels{exists: true, had: true, onHand: qtyBase + int32(tick), reserved: int32(rng.IntN(4)), tick: tick}
}

// shopUnit is a statement or a transaction being built: the rows it locked,
// their states as the unit leaves them, and its statements.
type shopUnit struct {
	m        *shopModel
	how      string
	rows     []*shopRow // locked, in index order
	loc      *locRow
	state    map[*shopRow]levels
	locState *location
	stmts    []stmt
	// changes are each row's successive states in the unit; a reader may
	// see every one of them, as the node applies the unit's events one at
	// a time.
	changes    map[*shopRow][]state
	locChanges []state
	rollback   bool
	counts     struct{ inserts, reinserts, sameReinserts, updates, deletes, reserved, even int64 }
}

func (m *shopModel) lock(how string, rows []*shopRow, loc *locRow) *shopUnit {
	slices.SortFunc(rows, func(a, b *shopRow) int { return a.idx - b.idx })
	rows = slices.Compact(rows)
	u := &shopUnit{m: m, how: how, rows: rows, loc: loc, state: map[*shopRow]levels{}, changes: map[*shopRow][]state{}}
	for _, r := range rows {
		r.mu.Lock()
		u.state[r] = r.cur
	}
	if loc != nil {
		loc.mu.Lock()
		c := loc.cur
		u.locState = &c
	}
	return u
}

func (u *shopUnit) unlock() {
	if u.loc != nil {
		u.loc.mu.Unlock()
	}
	for i := len(u.rows) - 1; i >= 0; i-- {
		u.rows[i].mu.Unlock()
	}
}

func (u *shopUnit) add(s stmt) { u.stmts = append(u.stmts, s) }

func (u *shopUnit) record(r *shopRow, op string, next levels) {
	u.changes[r] = append(u.changes[r], next.state(op+" ("+u.how+")"))
	u.state[r] = next
}

const levelsColumns = "(sku_id, location_id, on_hand, reserved, updated_at)"

// insertLevels is what an insert of row r writes: a new row when it never
// existed; else a re-insert, two times in three with exactly the values it
// had before its delete (nothing else changed, updated_at included), else
// with new ones.
func (u *shopUnit) insertLevels(rng *rand.Rand, r *shopRow) levels {
	st := u.state[r]
	switch {
	case !st.had:
		u.counts.inserts++
		return u.m.fresh(rng)
	case rng.IntN(3) == 0:
		u.counts.reinserts++
		return u.m.fresh(rng)
	}
	u.counts.reinserts++
	u.counts.sameReinserts++
	st.exists = true
	return st
}

// stockWrite adds the natural next write of r: an insert when it does not
// exist, else an update, or a delete one time in deleteOneIn. Updates set
// a new on_hand, reserve or release some stock (a release gives back the
// quantity a reservation took), or move on_hand and reserved together
// (the salable quantity stays).
func (u *shopUnit) stockWrite(rng *rand.Rand, r *shopRow, deleteOneIn int) {
	st := u.state[r]
	switch {
	case !st.exists:
		next := u.insertLevels(rng, r)
		u.add(stmt{"INSERT INTO inventory_levels " + levelsColumns + " VALUES (?, ?, ?, ?, ?)",
			[]any{r.p, r.w, next.onHand, next.reserved, next.updatedAt()}, 1})
		u.record(r, "c", next)
	case rng.IntN(deleteOneIn) == 0:
		u.add(stmt{"DELETE FROM inventory_levels WHERE sku_id = ? AND location_id = ?", []any{r.p, r.w}, 1})
		u.counts.deletes++
		next := st
		next.exists = false
		u.record(r, "d", next)
	default:
		next := st
		next.tick = u.m.ticks.Add(1)
		what := "u"
		switch k := rng.IntN(3); {
		case k == 0:
			next.onHand = u.m.fresh(rng).onHand
			what = "u on_hand"
		case k == 1:
			d := int32(1 + rng.IntN(2))
			if next.reserved >= d && rng.IntN(2) == 0 {
				d = -d
			}
			next.reserved += d
			u.counts.reserved++
			what = "u reserved"
		default:
			d := int32(1 + rng.IntN(3))
			next.onHand += d
			next.reserved += d
			u.counts.even++
			what = "u both"
		}
		u.counts.updates++
		u.add(stmt{"UPDATE inventory_levels SET on_hand = ?, reserved = ?, updated_at = ? WHERE sku_id = ? AND location_id = ?",
			[]any{next.onHand, next.reserved, next.updatedAt(), r.p, r.w}, 1})
		u.record(r, what, next)
	}
}

// multiRow adds one statement over every locked row: an upsert (inserts,
// re-inserts and updates in one statement), or a reservation or a delete
// of the rows that exist.
func (u *shopUnit) multiRow(rng *rand.Rand) {
	var existing []*shopRow
	for _, r := range u.rows {
		if u.state[r].exists {
			existing = append(existing, r)
		}
	}
	switch choice := rng.IntN(3); {
	case choice == 0 && len(existing) >= 1:
		ph, args := inPairs(existing)
		u.add(stmt{"DELETE FROM inventory_levels WHERE (sku_id, location_id) IN (" + ph + ")", args, int64(len(existing))})
		for _, r := range existing {
			next := u.state[r]
			next.exists = false
			u.counts.deletes++
			u.record(r, "d", next)
		}
	case choice == 1 && len(existing) >= 1:
		tick := u.m.ticks.Add(1)
		ph, args := inPairs(existing)
		at := levels{tick: tick}.updatedAt()
		u.add(stmt{"UPDATE inventory_levels SET reserved = reserved + 1, updated_at = ? WHERE (sku_id, location_id) IN (" + ph + ")",
			append([]any{at}, args...), int64(len(existing))})
		for _, r := range existing {
			next := u.state[r]
			next.reserved++
			next.tick = tick
			u.counts.updates++
			u.counts.reserved++
			u.record(r, "u reserved", next)
		}
	default:
		ph := make([]string, len(u.rows))
		var args []any
		var affected int64
		for i, r := range u.rows {
			ph[i] = "(?, ?, ?, ?, ?)"
			var next levels
			op := "c"
			if u.state[r].exists {
				next, op = u.m.fresh(rng), "u"
				u.counts.updates++
				affected += 2 // an upsert counts an updated row twice
			} else {
				next = u.insertLevels(rng, r)
				affected++
			}
			args = append(args, r.p, r.w, next.onHand, next.reserved, next.updatedAt())
			u.record(r, op, next)
		}
		u.add(stmt{"INSERT INTO inventory_levels " + levelsColumns + " VALUES " + strings.Join(ph, ", ") +
			" ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand), reserved = VALUES(reserved), updated_at = VALUES(updated_at)", args, affected})
	}
}

// locationWrite renames the locked location to another of its codes,
// enables or disables it, or both; it stays enabled most of the time, and
// the stable ones always.
func (u *shopUnit) locationWrite(rng *rand.Rand) {
	l := u.locState
	id := u.loc.id
	rename, toggle := true, false
	switch {
	case id <= stableLocations:
	case !l.enabled:
		toggle, rename = true, rng.IntN(2) == 0
	case rng.IntN(3) == 0:
		toggle, rename = true, rng.IntN(3) == 0
	}
	var notes []string
	if toggle {
		l.enabled = !l.enabled
		notes = append(notes, map[bool]string{true: "on", false: "off"}[l.enabled])
	}
	if rename {
		for code := l.code; code == l.code; {
			l.code = locationCode(id, rng.IntN(locationCodes))
		}
		notes = append(notes, "code "+l.code)
	}
	u.add(stmt{"UPDATE locations SET code = ?, enabled = ? WHERE id = ?", []any{l.code, l.enabled, id}, 1})
	u.locChanges = append(u.locChanges, l.state("u "+strings.Join(notes, ",")+" ("+u.how+")"))
}

// run executes the unit in a transaction, retries it on a deadlock, and on
// commit updates the rows and the counters. The caller unlocks.
func (u *shopUnit) run(ctx context.Context) error {
	committed, err := u.m.runUnit(ctx, u.how, len(u.stmts), u.rollback, u.exec)
	if !committed {
		return err
	}
	s := &u.m.stats
	c := &u.counts
	s.inserts.Add(c.inserts)
	s.reinserts.Add(c.reinserts)
	s.updates.Add(c.updates)
	s.deletes.Add(c.deletes)
	u.m.shop.sameReinserts.Add(c.sameReinserts)
	u.m.shop.reservedChanges.Add(c.reserved)
	u.m.shop.evenUpdates.Add(c.even)
	for r := range u.changes {
		r.cur = u.state[r]
	}
	if u.loc != nil && len(u.locChanges) > 0 {
		if u.loc.cur.enabled && !u.locState.enabled {
			u.m.shop.disables.Add(1)
		}
		if u.loc.cur.code != u.locState.code {
			u.m.shop.renames.Add(1)
		}
		u.loc.cur = *u.locState
		s.warehouseChanges.Add(int64(len(u.locChanges)))
	}
	s.writes.Add(c.inserts + c.reinserts + c.updates + c.deletes + int64(len(u.locChanges)))
	return nil
}

// exec runs the unit's statements in one transaction on a connection of
// its own, so that the transaction's GTID can be read after the commit
// (@@last_gtid is the session's). The unit's states are logged as possible
// before the commit is sent, and given the GTID after it (see stateLog).
func (u *shopUnit) exec(ctx context.Context) error {
	conn, err := u.m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
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
	pending := u.pend()
	if err := tx.Commit(); err != nil {
		// Whether it committed is unknown, and its states stay possible
		// for ever: the run cannot go on (%v: never retried).
		return fmt.Errorf("commit of %s unit: %v", u.how, err)
	}
	var gtid string
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid); err != nil {
		return fmt.Errorf("read the transaction's GTID (@@last_gtid): %w", err)
	}
	g, ok := domain.ParseGTID(gtid)
	if !ok {
		return fmt.Errorf("@@last_gtid %q after a commit names no transaction", gtid)
	}
	for _, p := range pending {
		if err := p.log.commit(p.from, g); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	return nil
}

// pendingStates are the states one unit added to one log.
type pendingStates struct {
	log  *stateLog
	from int
	what string
}

// pend logs the unit's states as possible, in the order it made them.
func (u *shopUnit) pend() []pendingStates {
	var out []pendingStates
	for _, r := range u.rows {
		if cs := u.changes[r]; len(cs) > 0 {
			out = append(out, pendingStates{&r.log, r.log.pend(cs), fmt.Sprintf("row (%d,%d)", r.p, r.w)})
		}
	}
	if len(u.locChanges) > 0 {
		out = append(out, pendingStates{&u.loc.log, u.loc.log.pend(u.locChanges), fmt.Sprintf("location %d", u.loc.id)})
	}
	return out
}

func (u *shopUnit) locked() int { return len(u.rows) }
func (u *shopUnit) writeRow(rng *rand.Rand, i, deleteOneIn int) {
	u.stockWrite(rng, u.rows[i], deleteOneIn)
}
func (u *shopUnit) writeWarehouse(rng *rand.Rand) { u.locationWrite(rng) }
func (u *shopUnit) setRollback()                  { u.rollback = true }

// step does one unit of work, picked at random as in version order.
func (m *shopModel) step(ctx context.Context, rng *rand.Rand) error {
	pl := pickPlan(rng, m.products, m.warehouses)
	rows := make([]*shopRow, len(pl.rows))
	for i, k := range pl.rows {
		rows[i] = m.row(k.p, k.w)
	}
	var loc *locRow
	if pl.wh != 0 {
		loc = &m.locs[pl.wh-1]
	}
	return pl.do(ctx, rng, m.lock(pl.how, rows, loc))
}

// write runs writers until target writes are committed.
func (m *shopModel) write(ctx context.Context, writers int, target int64, seed uint64) error {
	return m.runWriters(ctx, writers, target, seed, m.step)
}
