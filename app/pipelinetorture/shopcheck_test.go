package pipelinetorture

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// The readers' check in binlog order, built on the database's own history.
//
// Without a version column an answer does not say which state of a row it
// shows, and values repeat (a re-insert of the deleted row, a reservation
// released, on_hand and reserved moved together), so the check of version
// order ("qty tells the rank") cannot work. Instead the writers log every
// row's and every location's successive states in commit order (a row's
// lock is held from its write to its commit), each with the GTID of its
// transaction (@@last_gtid in the writer's session after the commit). A
// state is what a reader can see: for a row, present with its salable
// quantity or absent; for a location, enabled with its code or disabled.
// Every change of a transaction is a state of its own: a node applies the
// transaction's events one at a time, and a read may land between two.
//
// Each node has floors: per row and per location, the least index into its
// log the node can be at, given what completed reads of it showed. An
// answer is checked against the floors taken before its request was sent:
// what it shows of a row must be a state at or after the floor, and the
// least such index becomes the new floor (the least, because a repeated
// value only proves the node reached the first state from the floor on
// that shows it). Nothing from the floor on showing it means the node went
// back (or showed a state that never was).
//
// A node can show a state as soon as its transaction commits, before the
// writer's COMMIT returns. So the writer logs a unit's states as possible
// next states before it sends COMMIT, and adds the GTID after: by the time
// an answer is checked (after it came back), every state the node could
// have shown is in the log. A state still in flight can only match an
// answer that shows the same value as it, which is the ambiguity repeats
// bring anyway: it can make the check miss a step back to an equal value,
// never report one that did not happen. A rolled-back unit, or an attempt
// that failed before COMMIT (a deadlock, retried), logs nothing; a failed
// COMMIT ends the run, as its states would stay possible for ever.
//
// A row missing from an answer is absent, or its location is disabled: in
// a stable location (never disabled) an absent state of the row must
// follow the floor; elsewhere one or the other must, and a floor moves
// only when one alone can explain it.

// state is one state of a row or a location as a reader can see it, and
// the change that made it.
type state struct {
	present bool   // rows: the row exists; locations: enabled
	qty     int32  // rows: on_hand - reserved
	code    string // locations
	what    string // the change and the values, for reports
	// gtid is the change's transaction; unknown for the seed and while
	// the commit is in flight.
	gtid domain.GTID
}

func (l levels) state(what string) state {
	return state{present: l.exists, qty: l.salable(), what: fmt.Sprintf("%s %d-%d", what, l.onHand, l.reserved)}
}

func (l location) state(what string) state {
	return state{present: l.enabled, code: l.code, what: what}
}

func (s state) String() string {
	var b strings.Builder
	switch {
	case s.code != "" && s.present:
		fmt.Fprintf(&b, "%s on", s.code)
	case s.code != "":
		fmt.Fprintf(&b, "%s off", s.code)
	case s.present:
		fmt.Fprintf(&b, "%d", s.qty)
	default:
		b.WriteString("absent")
	}
	fmt.Fprintf(&b, " [%s", s.what)
	if s.gtid.Known() {
		fmt.Fprintf(&b, " %s", s.gtid)
	}
	b.WriteString("]")
	return b.String()
}

// stateLog is the successive states of one row or location, in commit
// order.
type stateLog struct {
	mu     sync.Mutex
	states []state
}

// pend adds the states of a unit about to commit, and returns the index of
// the first.
func (l *stateLog) pend(states []state) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := len(l.states)
	l.states = append(l.states, states...)
	return from
}

// commit gives the states from index from on their transaction's GTID. The
// binlog must agree with the order the writers committed them in.
func (l *stateLog) commit(from int, g domain.GTID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from > 0 {
		if prev := l.states[from-1].gtid; prev.Known() && prev.Source == g.Source && prev.Seq >= g.Seq {
			return fmt.Errorf("committed as %s after a commit as %s: the binlog disagrees with the writers' order (a fault of the test)", g, prev)
		}
	}
	for i := from; i < len(l.states); i++ {
		l.states[i].gtid = g
	}
	return nil
}

// find returns the least index from from on of a state that match accepts.
func (l *stateLog) find(from int, match func(state) bool) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < len(l.states); i++ {
		if match(l.states[i]) {
			return i, true
		}
	}
	return 0, false
}

// describe lists the states from index from on, at most limit of them.
func (l *stateLog) describe(from, limit int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	from = max(0, min(from, len(l.states)))
	var parts []string
	if from > 0 {
		parts = append(parts, fmt.Sprintf("(%d earlier)", from))
	}
	for i := from; i < len(l.states) && i < from+limit; i++ {
		parts = append(parts, fmt.Sprintf("#%d %s", i, l.states[i]))
	}
	if n := len(l.states) - from - limit; n > 0 {
		parts = append(parts, fmt.Sprintf("(%d later)", n))
	}
	return strings.Join(parts, " ")
}

func (l *stateLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.states)
}

// gtidAt is the GTID of state i, unknown for the seed or out of range.
func (l *stateLog) gtidAt(i int) domain.GTID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i >= len(l.states) {
		return domain.GTID{}
	}
	return l.states[i].gtid
}

// parseLocationCode reads a location's id back from its code ("L3-b").
func parseLocationCode(code string) (int64, error) {
	rest, ok := strings.CutPrefix(code, "L")
	idPart, _, dash := strings.Cut(rest, "-")
	if !ok || !dash {
		return 0, fmt.Errorf("location code %q is none the test wrote", code)
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("location code %q: %w", code, err)
	}
	return id, nil
}

// shopView is what completed reads of one node have shown, in binlog
// order: the floors.
type shopView struct {
	rd   *readers
	node string
	m    *shopModel
	mu   sync.Mutex
	rows map[rowKey]int
	locs map[int64]int
}

func (m *shopModel) newView(rd *readers, node string) view {
	return &shopView{rd: rd, node: node, m: m, rows: map[rowKey]int{}, locs: map[int64]int{}}
}

type shopFloors struct {
	rows map[rowKey]int
	locs map[int64]int
}

func (v *shopView) before(ids []int64) func([]answer) {
	v.mu.Lock()
	f := shopFloors{rows: map[rowKey]int{}, locs: map[int64]int{}}
	for w := int64(1); w <= int64(v.m.warehouses); w++ {
		f.locs[w] = v.locs[w]
		for _, p := range ids {
			f.rows[rowKey{p, w}] = v.rows[rowKey{p, w}]
		}
	}
	v.mu.Unlock()
	return func(answers []answer) {
		rows, locs := v.check(f, answers)
		v.mu.Lock()
		defer v.mu.Unlock()
		for k, i := range rows {
			v.rows[k] = max(v.rows[k], i)
		}
		for w, i := range locs {
			v.locs[w] = max(v.locs[w], i)
		}
	}
}

func raiseTo[K comparable](m map[K]int, k K, i int) { m[k] = max(m[k], i) }

// statesShown is how many states a report lists.
const statesShown = 12

// check compares answers with the floors taken before the request, and
// returns the floors they prove.
func (v *shopView) check(f shopFloors, answers []answer) (map[rowKey]int, map[int64]int) {
	rd, node := v.rd, v.node
	rows, locs := map[rowKey]int{}, map[int64]int{}
	for _, a := range answers {
		p := a.ProductID
		if p < 1 || p > int64(v.m.products) {
			if len(a.Warehouses) > 0 {
				rd.stats.malformed.Add(1)
				rd.problem("%s: product %d, never written, shown as %s", node, p, a)
			}
			continue
		}
		shown := map[int64]bool{}
		for _, l := range a.Warehouses {
			w, err := parseLocationCode(l.Code)
			if err != nil || w < 1 || w > int64(v.m.warehouses) {
				rd.stats.malformed.Add(1)
				rd.problem("%s: product %d: %v (%s)", node, p, err, l.Code)
				continue
			}
			shown[w] = true
			loc := &v.m.locs[w-1]
			if i, ok := loc.log.find(f.locs[w], func(s state) bool { return s.present && s.code == l.Code }); ok {
				raiseTo(locs, w, i)
			} else {
				rd.stats.backwards.Add(1)
				rd.problem("%s: product %d shows location %d enabled as %q, which no state of the location from #%d on is: %s",
					node, p, w, l.Code, f.locs[w], loc.log.describe(f.locs[w]-2, statesShown))
			}
			k := rowKey{p, w}
			row := v.m.row(p, w)
			if i, ok := row.log.find(f.rows[k], func(s state) bool { return s.present && s.qty == l.Qty }); ok {
				raiseTo(rows, k, i)
			} else {
				rd.wentBack(backRow{node: node, k: k, from: uint64(f.rows[k])},
					fmt.Sprintf("%s: product %d location %d shows %d, which no state of the row from #%d on has: %s",
						node, p, w, l.Qty, f.rows[k], row.log.describe(f.rows[k]-2, statesShown)))
			}
		}
		for w := int64(1); w <= int64(v.m.warehouses); w++ {
			if shown[w] {
				continue
			}
			k := rowKey{p, w}
			row := v.m.row(p, w)
			absent := func(s state) bool { return !s.present }
			ri, rowGone := row.log.find(f.rows[k], absent)
			li, locOff := 0, false
			if w > stableLocations {
				li, locOff = v.m.locs[w-1].log.find(f.locs[w], absent)
			}
			switch {
			case rowGone && !locOff:
				raiseTo(rows, k, ri)
			case locOff && !rowGone:
				raiseTo(locs, w, li)
			case !rowGone && !locOff:
				rd.wentBack(backRow{node: node, k: k, from: uint64(f.rows[k])},
					fmt.Sprintf("%s: product %d location %d missing, though the row is present in every state from #%d on and the location never disabled from #%d on: %s",
						node, p, w, f.rows[k], f.locs[w], row.log.describe(f.rows[k]-2, statesShown)))
			}
		}
	}
	return rows, locs
}

// readDB reads the shop's tables.
func (m *shopModel) readDB(p *pipeline) dbState {
	s := dbState{rows: map[rowKey]dbRow{}, whs: map[int64]dbWarehouse{}}
	p.queryEach("SELECT sku_id, location_id, on_hand, reserved FROM inventory_levels", func(rows *sql.Rows) error {
		var k rowKey
		var r dbRow
		err := rows.Scan(&k.p, &k.w, &r.onHand, &r.reserved)
		r.qty = r.onHand - r.reserved
		s.rows[k] = r
		return err
	})
	p.queryEach("SELECT id, code, enabled FROM locations", func(rows *sql.Rows) error {
		var id int64
		var w dbWarehouse
		err := rows.Scan(&id, &w.code, &w.active)
		s.whs[id] = w
		return err
	})
	return s
}

func (m *shopModel) matchesModel(s dbState) []string {
	var out []string
	for i := range m.rows {
		r := &m.rows[i]
		got, ok := s.rows[rowKey{r.p, r.w}]
		if ok != r.cur.exists || ok && (got.onHand != r.cur.onHand || got.reserved != r.cur.reserved) {
			out = append(out, fmt.Sprintf("row (%d,%d): database %v %+v, writers %+v", r.p, r.w, ok, got, r.cur))
		}
	}
	for i := range m.locs {
		l := &m.locs[i]
		if got := s.whs[l.id]; got.code != l.cur.code || got.active != l.cur.enabled {
			out = append(out, fmt.Sprintf("location %d: database %+v, writers %+v", l.id, got, l.cur))
		}
	}
	return out
}

// valueNeverHad: a node shows a quantity no state of the row ever had.
const valueNeverHad staleKind = "row shows a quantity it never had"

func (m *shopModel) explain(s dbState, d mismatch, kinds map[staleKind]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s product %d: node %s, database %s", d.node, d.product, d.got, d.want)
	if d.err != nil {
		kinds[unavailable]++
		fmt.Fprintf(&b, " (%v)", d.err)
		return b.String()
	}
	if d.product > int64(m.products) {
		return b.String()
	}
	shown := map[int64]line{}
	for _, l := range d.got.Warehouses {
		if w, err := parseLocationCode(l.Code); err == nil {
			shown[w] = l
		}
	}
	for w := int64(1); w <= int64(m.warehouses); w++ {
		l, onNode := shown[w]
		r, inDB := s.rows[rowKey{d.product, w}]
		loc := s.whs[w]
		row := m.row(d.product, w)
		var kind staleKind
		switch {
		case onNode && !inDB:
			kind = deletedRow
		case onNode && !loc.active:
			kind = whInactive
		case onNode && l.Code != loc.code:
			kind = whCode
		case onNode && l.Qty != r.qty:
			kind = rowBehind
			if _, ok := row.log.find(0, func(s state) bool { return s.present && s.qty == l.Qty }); !ok {
				kind = valueNeverHad
			}
		case !onNode && inDB && loc.active:
			kind = rowMissing
		default:
			continue
		}
		kinds[kind]++
		fmt.Fprintf(&b, "\n    location %d: %s; row's last states: %s; location's: %s",
			w, kind, row.log.describe(row.log.len()-statesShown, statesShown), m.locs[w-1].log.describe(m.locs[w-1].log.len()-5, 5))
	}
	return b.String()
}

// explainBackwards lists, for the first rows that went back, the row's
// states from a little before the floor on and what the stock topic holds
// for it from there.
func (m *shopModel) explainBackwards(p *pipeline, rd *readers) string {
	rd.mu.Lock()
	rows := append([]backRow(nil), rd.backRows...)
	rd.mu.Unlock()
	if len(rows) == 0 {
		return ""
	}
	from := map[rowKey]uint64{}
	for _, b := range rows {
		// Events from the transaction of the state two before the floor
		// on; the seed's states have none (every event is shown).
		if g := m.row(b.k.p, b.k.w).log.gtidAt(int(b.from) - 2); g.Known() {
			from[b.k] = g.Seq
		} else {
			from[b.k] = 0
		}
	}
	events, err := p.shopRowEvents(m, from, 24)
	var b strings.Builder
	b.WriteString("\nrows that went back (row states from two before the floor; topic events from the first of those on):")
	if err != nil {
		fmt.Fprintf(&b, " (topic not read: %v)", err)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %s product %d location %d, floor #%d; states: %s; events: %s", r.node, r.k.p, r.k.w, r.from,
			m.row(r.k.p, r.k.w).log.describe(int(r.from)-2, 2*statesShown), strings.Join(events[r.k], " "))
	}
	return b.String()
}

// shopRowEvents reads the stock topic and returns, for each row asked
// about, its first messages whose transaction is at or after the sequence
// number given: partition, offset, op, salable quantity, GTID and place in
// the transaction, "null" for a tombstone.
func (p *pipeline) shopRowEvents(m *shopModel, rows map[rowKey]uint64, first int) (map[rowKey][]string, error) {
	dec, err := debezium.NewDecoder(m.mapping)
	if err != nil {
		return nil, err
	}
	out := map[rowKey][]string{}
	err = p.eachStockMessage(func(part int32, msg *sarama.ConsumerMessage) {
		c, _, err := dec.StockRecord(msg.Key, msg.Value)
		k := rowKey{c.Row.ProductID, c.Row.WarehouseID}
		from, asked := rows[k]
		if err != nil || !asked || !c.ByKey && c.GTID.Known() && c.GTID.Seq < from {
			return
		}
		ev := "null"
		if !c.ByKey {
			ev = fmt.Sprintf("%s:%d@%s/%d.%d", c.Op, c.Row.QtySalable, c.GTID, c.Sub>>16, c.Sub&0xFFFF)
		} else if len(out[k]) == 0 {
			return // the tombstone of a delete before the events asked for
		}
		out[k] = append(out[k], fmt.Sprintf("p%d/%d:%s", part, msg.Offset, ev))
	})
	for k, evs := range out {
		out[k] = evs[:min(len(evs), first)]
	}
	return out, err
}
