package relaymod

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// queryCounter counts the read path's database queries.
type queryCounter struct {
	inventory.NopMetrics
	queries atomic.Int64
}

func (q *queryCounter) DBQuery(time.Duration, error) { q.queries.Add(1) }

// changeLog records the changes the consumer applies, as the read node
// receives them from the relay.
type changeLog struct {
	*inventory.Changes
	mu  sync.Mutex
	log []string
}

func (l *changeLog) ApplyStock(c domain.StockChange) inventory.Outcome {
	out := l.Changes.ApplyStock(c)
	l.add(fmt.Sprintf("stock %c (%d,%d) qty=%d v%d -> %s", c.Op, c.Row.ProductID, c.Row.WarehouseID, c.Row.QtySalable, c.Row.Version, out))
	return out
}

func (l *changeLog) ApplyWarehouse(c domain.WarehouseChange) inventory.Outcome {
	out := l.Changes.ApplyWarehouse(c)
	l.add(fmt.Sprintf("warehouse %c %d %s active=%v v%d -> %s", c.Op, c.Row.ID, c.Row.Code, c.Row.Active, c.Row.Version, out))
	return out
}

func (l *changeLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
}

// since returns the entries after the first n.
func (l *changeLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log[n:]...)
}

func (l *changeLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.log)
}

// TestEveryKindOfStatementReachesTheCache runs each kind of statement
// applications make through MariaDB, the relay and a read node whose cache
// holds every product, and checks that the cached answers end equal to the
// database without the read node querying it: whatever the relay emits for
// the statement (one event per row, delete + create for a key change, a
// delete of another row for REPLACE, nothing for a statement that changes
// nothing) keeps the cache right. The changes each statement produced are
// logged.
func TestEveryKindOfStatementReachesTheCache(t *testing.T) {
	t.Parallel()
	const products = 12
	h := newHarness(t, 3)
	h.exec("INSERT INTO warehouses VALUES (1,'WH-B','b',1,1,NOW(6)),(2,'WH-A','a',1,1,NOW(6)),(3,'WH-C','c',1,1,NOW(6)),(4,'WH-D','d',0,1,NOW(6))")
	var rows []string
	for p := 1; p <= products; p++ {
		for w := 1; w <= 3; w++ {
			rows = append(rows, fmt.Sprintf("(%d,%d,%d,1,NOW(6))", p, w, p*10+w))
		}
	}
	h.exec("INSERT INTO stock_items VALUES " + strings.Join(rows, ","))
	cfg := h.cfg
	cfg.Snapshot = "never"
	startRelay(t, cfg)
	counter := &queryCounter{}
	var changes *changeLog
	node := startReadNode(t, h, counter, func(svc *inventory.Changes) kafkaconsumer.Applier {
		changes = &changeLog{Changes: svc}
		return changes
	})
	ctx := context.Background()
	for p := int64(1); p <= products; p++ {
		if _, err := node.svc.GetProductInventory(ctx, p); err != nil {
			t.Fatalf("warm product %d: %v", p, err)
		}
	}
	warmed := counter.queries.Load()
	db := gormrepo.New(h.gdb, nil)
	render := func(inv domain.ProductInventory, err error) string {
		if errors.Is(err, domain.ErrNotFound) {
			return "not found"
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprint(inv.Warehouses)
	}
	differences := func() []string {
		var out []string
		for p := int64(1); p <= products; p++ {
			cached := render(node.svc.GetProductInventory(ctx, p))
			joined, err := db.StockByProducts(ctx, []int64{p})
			if err != nil {
				t.Fatal(err)
			}
			inv, ok := domain.InventoryFromJoined(p, joined)
			want := "not found"
			if ok {
				want = fmt.Sprint(inv.Warehouses)
			}
			if cached != want {
				out = append(out, fmt.Sprintf("product %d: cache %s, database %s", p, cached, want))
			}
		}
		return out
	}

	steps := []struct {
		name string
		sql  []string // more than one: one transaction
	}{
		{"DELETE of one row", []string{"DELETE FROM stock_items WHERE product_id=1 AND warehouse_id=2"}},
		{"DELETE of many rows", []string{"DELETE FROM stock_items WHERE product_id=2"}},
		{"UPDATE of many rows", []string{"UPDATE stock_items SET qty_salable=qty_salable+100, version=version+1 WHERE product_id IN (3,4)"}},
		{"a transaction over both tables", []string{
			"UPDATE stock_items SET qty_salable=500, version=2 WHERE product_id=5 AND warehouse_id=1",
			"DELETE FROM stock_items WHERE product_id=5 AND warehouse_id=2",
			"INSERT INTO stock_items VALUES (5,4,54,1,NOW(6))",
			"UPDATE warehouses SET is_active=1, version=2 WHERE id=4",
		}},
		{"UPDATE that changes no column", []string{"UPDATE stock_items SET qty_salable=qty_salable WHERE product_id=6"}},
		{"INSERT ... ON DUPLICATE KEY UPDATE of an existing row", []string{
			"INSERT INTO stock_items VALUES (7,1,777,2,NOW(6)) ON DUPLICATE KEY UPDATE qty_salable=VALUES(qty_salable), version=VALUES(version)"}},
		{"INSERT ... ON DUPLICATE KEY UPDATE of a new row", []string{
			"INSERT INTO stock_items VALUES (7,4,74,1,NOW(6)) ON DUPLICATE KEY UPDATE qty_salable=VALUES(qty_salable), version=VALUES(version)"}},
		{"INSERT ... ON DUPLICATE KEY UPDATE that changes nothing", []string{
			"INSERT INTO stock_items (product_id,warehouse_id,qty_salable,version,updated_at) SELECT product_id,warehouse_id,qty_salable,version,updated_at FROM stock_items WHERE product_id=7 AND warehouse_id=1 " +
				"ON DUPLICATE KEY UPDATE qty_salable=VALUES(qty_salable), version=VALUES(version), updated_at=VALUES(updated_at)"}},
		{"REPLACE of an existing row", []string{"REPLACE INTO stock_items VALUES (8,1,888,2,NOW(6))"}},
		{"REPLACE of a warehouse whose code another warehouse holds", []string{"REPLACE INTO warehouses VALUES (5,'WH-C','c2',1,1,NOW(6))"}},
		{"a primary-key change", []string{"UPDATE stock_items SET warehouse_id=4, version=version+1 WHERE product_id=9 AND warehouse_id=1"}},
		{"a re-insert of a deleted row with a new version", []string{"INSERT INTO stock_items VALUES (1,2,50,2,NOW(6))"}},
		{"a warehouse rename and a deactivation", []string{
			"UPDATE warehouses SET code='WH-Z', version=version+1 WHERE id=1",
			"UPDATE warehouses SET is_active=0, version=version+1 WHERE id=2"}},
		{"DELETE of a warehouse", []string{"DELETE FROM warehouses WHERE id=1"}},
		{"DELETE and re-insert in one transaction", []string{
			"DELETE FROM stock_items WHERE product_id=10 AND warehouse_id=3",
			"INSERT INTO stock_items VALUES (10,3,1003,2,NOW(6))"}},
	}
	for _, st := range steps {
		before := changes.len()
		if len(st.sql) == 1 {
			h.exec(st.sql[0])
		} else {
			h.tx(st.sql...)
		}
		deadline := time.Now().Add(testDeadline)
		for diff := differences(); len(diff) > 0; diff = differences() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the cache did not reach the database:\n%s\nchanges applied:\n%s",
					st.name, strings.Join(diff, "\n"), strings.Join(changes.since(before), "\n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Let the relay deliver anything still in flight for the log.
		time.Sleep(200 * time.Millisecond)
		t.Logf("%s: %s", st.name, strings.Join(changes.since(before), "; "))
		for _, c := range changes.since(before) {
			if strings.HasSuffix(c, "-> older") && strings.HasPrefix(c, "stock d") {
				t.Errorf("%s: a delete was taken for an older event: %s", st.name, c)
			}
		}
		if q := counter.queries.Load(); q != warmed {
			t.Fatalf("%s: the read node queried the database %d times: the answers did not come from the events", st.name, q-warmed)
		}
	}
}
