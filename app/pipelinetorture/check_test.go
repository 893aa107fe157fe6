package pipelinetorture

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/domain"
)

// dbState is what the database holds once the writers have stopped.
type dbState struct {
	rows map[rowKey]dbRow
	whs  map[int64]dbWarehouse
}

type dbRow struct {
	qty     int32
	version uint64 // version order
	// binlog order: the shop's columns (qty is their difference)
	onHand, reserved int32
}

type dbWarehouse struct {
	code    string
	active  bool
	version uint64
}

func (m *model) readDB(p *pipeline) dbState {
	s := dbState{rows: map[rowKey]dbRow{}, whs: map[int64]dbWarehouse{}}
	p.queryEach("SELECT product_id, warehouse_id, qty_salable, version FROM stock_items", func(rows *sql.Rows) error {
		var k rowKey
		var r dbRow
		err := rows.Scan(&k.p, &k.w, &r.qty, &r.version)
		s.rows[k] = r
		return err
	})
	p.queryEach("SELECT id, code, is_active, version FROM warehouses", func(rows *sql.Rows) error {
		var id int64
		var w dbWarehouse
		err := rows.Scan(&id, &w.code, &w.active, &w.version)
		s.whs[id] = w
		return err
	})
	return s
}

// queryEach runs query and scan on each row it returns; any error fails
// the test.
func (p *pipeline) queryEach(query string, scan func(*sql.Rows) error) {
	rows, err := p.DB.Query(query)
	if err != nil {
		p.T.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			p.T.Fatalf("%s: %v", query, err)
		}
	}
	if err := rows.Err(); err != nil {
		p.T.Fatalf("%s: %v", query, err)
	}
}

// answer is what a read node must answer for product: its rows in active
// warehouses, ordered by code; none is a 404.
func (s dbState) answer(product int64, warehouses int) answer {
	a := answer{ProductID: product}
	for w := int64(1); w <= int64(warehouses); w++ {
		r, ok := s.rows[rowKey{product, w}]
		if wh := s.whs[w]; ok && wh.active {
			a.Warehouses = append(a.Warehouses, line{Code: wh.code, Qty: r.qty})
		}
	}
	slices.SortFunc(a.Warehouses, func(x, y line) int { return strings.Compare(x.Code, y.Code) })
	return a
}

// matchesModel compares the database with what the writers believe they
// committed: a difference is a fault of the test, not of the product.
func (m *model) matchesModel(s dbState) []string {
	var out []string
	for i := range m.rows {
		r := &m.rows[i]
		got, ok := s.rows[rowKey{r.p, r.w}]
		// Seeded rows keep the seed's quantities; every write sets qty().
		written := r.version != m.seedVersion
		if ok != r.exists || ok && (got.version != r.version || written && got.qty != m.qty(r.version)) {
			out = append(out, fmt.Sprintf("row (%d,%d): database %v %+v, writers exists=%v version %d", r.p, r.w, ok, got, r.exists, r.version))
		}
	}
	for i := range m.whs {
		w := &m.whs[i]
		got := s.whs[w.id]
		if got.code != w.code || got.active != w.active || got.version != w.version {
			out = append(out, fmt.Sprintf("warehouse %d: database %+v, writers %q active=%v version %d", w.id, got, w.code, w.active, w.version))
		}
	}
	return out
}

// staleKind names why a node's row differs from the database.
type staleKind string

const (
	deleteLost  staleKind = "deleted row still shown, at the version its delete carried"
	deletedRow  staleKind = "deleted row still shown"
	rowBehind   staleKind = "row behind the database"
	rowAhead    staleKind = "row ahead of the database"
	rowMissing  staleKind = "row missing"
	whInactive  staleKind = "row of an inactive warehouse shown"
	whCode      staleKind = "warehouse code differs"
	unavailable staleKind = "node did not answer"
)

// mismatch is one product a node answers differently from the database.
type mismatch struct {
	node    string
	product int64
	got     answer
	want    answer
	err     error
}

// compare reads every product from every node once.
func (p *pipeline) compare(ctx context.Context, rd *readers, s dbState, products, warehouses int) []mismatch {
	var out []mismatch
	for _, n := range p.nodes {
		for id := int64(1); id <= int64(products); id++ {
			want := s.answer(id, warehouses)
			got, err := rd.fetch(ctx, n.Base(), []int64{id}, int(id))
			if err != nil {
				out = append(out, mismatch{node: n.Name, product: id, want: want, err: err})
				continue
			}
			if got[0].String() != want.String() {
				out = append(out, mismatch{node: n.Name, product: id, got: got[0], want: want})
			}
		}
	}
	return out
}

// converge compares until every node equals the database, or limit passes;
// it returns what still differs.
func (p *pipeline) converge(rd *readers, s dbState, products, warehouses int, limit time.Duration) []mismatch {
	deadline := time.Now().Add(limit)
	ctx := context.Background()
	for {
		diffs := p.compare(ctx, rd, s, products, warehouses)
		if len(diffs) == 0 || time.Now().After(deadline) {
			return diffs
		}
		time.Sleep(time.Second)
	}
}

// explain says, row by row, how a node's answer differs from the database,
// with the row's last committed changes, and tallies the kinds.
func (m *model) explain(s dbState, d mismatch, kinds map[staleKind]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s product %d: node %s, database %s", d.node, d.product, d.got, d.want)
	if d.err != nil {
		kinds[unavailable]++
		fmt.Fprintf(&b, " (%v)", d.err)
		return b.String()
	}
	shown := map[int64]line{}
	for _, l := range d.got.Warehouses {
		if w, _, err := parseCode(l.Code); err == nil {
			shown[w] = l
		}
	}
	for w := int64(1); w <= int64(m.warehouses); w++ {
		l, onNode := shown[w]
		r, inDB := s.rows[rowKey{d.product, w}]
		wh := s.whs[w]
		var kind staleKind
		detail := ""
		switch {
		case onNode && !inDB:
			kind = deletedRow
			last := m.row(d.product, w).hist
			if last.n > 0 {
				if c := last.last[(last.n-1)%historyLen]; c.op == 'd' && c.rank == rankOfQty(l.Qty) {
					kind = deleteLost
				}
			}
			detail = fmt.Sprintf("node shows rank %d", rankOfQty(l.Qty))
		case onNode && !wh.active:
			kind, detail = whInactive, fmt.Sprintf("warehouse %d is inactive", w)
		case onNode && l.Code != wh.code:
			kind, detail = whCode, fmt.Sprintf("node %q, database %q", l.Code, wh.code)
		case onNode && l.Qty != r.qty:
			kind = rowBehind
			if rankOfQty(l.Qty) > rankOfQty(r.qty) {
				kind = rowAhead
			}
			detail = fmt.Sprintf("node rank %d, database rank %d", rankOfQty(l.Qty), rankOfQty(r.qty))
		case !onNode && inDB && wh.active:
			kind, detail = rowMissing, fmt.Sprintf("database rank %d", rankOfQty(r.qty))
		default:
			continue
		}
		kinds[kind]++
		fmt.Fprintf(&b, "\n    warehouse %d: %s (%s); row's last changes: %s; warehouse's: %s",
			w, kind, detail, m.row(d.product, w).hist.String(), m.whs[w-1].hist.String())
	}
	return b.String()
}

// rowEvents reads the stock topic and returns, for each row asked about,
// its first messages from rank from on: partition,
// offset, op and rank, "null" for a tombstone.
func (p *pipeline) rowEvents(m *model, rows map[rowKey]uint64, first int) (map[rowKey][]string, error) {
	out := map[rowKey][]string{}
	err := p.eachStockMessage(func(part int32, msg *sarama.ConsumerMessage) {
		pid, wid, err := debezium.DecodeStockKey(msg.Key)
		k := rowKey{pid, wid}
		from, asked := rows[k]
		if err != nil || !asked {
			return
		}
		// A tombstone has no version: it follows the delete before it.
		ev := ""
		if len(out[k]) > 0 {
			ev = "null"
		}
		if msg.Value != nil {
			ev = "?"
			if c, err := debezium.DecodeStock(msg.Value); err == nil {
				if c.Row.Version < m.seedVersion+from && c.Op != domain.OpTruncate {
					ev = ""
				} else {
					ev = fmt.Sprintf("%s@%d", c.Op, m.rank(c.Row.Version))
				}
			}
		}
		if ev != "" {
			out[k] = append(out[k], fmt.Sprintf("p%d/%d:%s", part, msg.Offset, ev))
		}
	})
	for k, evs := range out {
		out[k] = evs[:min(len(evs), first)]
	}
	return out, err
}

// eachStockMessage calls f with every message the stock topic holds now,
// partition by partition, in offset order.
func (p *pipeline) eachStockMessage(f func(part int32, msg *sarama.ConsumerMessage)) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	client, err := sarama.NewClient([]string{p.Brokers()}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	parts, err := client.Partitions(p.StockTopic)
	if err != nil {
		return err
	}
	for _, part := range parts {
		end, err := client.GetOffset(p.StockTopic, part, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(p.StockTopic, part, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		for msg := range pc.Messages() {
			f(part, msg)
			if msg.Offset >= end-1 {
				break
			}
		}
		pc.Close()
	}
	return nil
}
