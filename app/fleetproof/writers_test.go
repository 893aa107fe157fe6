package fleetproof

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/infrastructure/database"
)

// qtyBase: every write sets a row's qty_salable to qtyBase plus the row's
// rank (its n-th write of the run) and its version to the seed's version
// plus the rank, so the quantity an answer shows tells which version of the
// row it is. Seeded quantities (database.SeedQty) are below it.
const qtyBase = 1000

// row is what the writers know of one stock row. One writer owns it and
// writes it in rank order, so at any moment the database holds a rank
// between acked and started.
type row struct {
	started atomic.Uint64 // rank of the newest write sent
	acked   atomic.Uint64 // rank of the newest write committed
}

// writers change MariaDB at a steady rate: single-row UPDATEs and
// transactions over every warehouse of a product.
type writers struct {
	db          *sql.DB
	seedVersion uint64
	products    int
	warehouses  int
	rows        []row
	// Every write holds the gate shared; pause takes it exclusively and
	// so returns once the writes in flight have committed.
	gate   sync.RWMutex
	held   bool
	writes atomic.Int64 // rows written
	txs    atomic.Int64 // of them, in transactions over a whole product

	errOnce sync.Once
	err     error
	failed  chan struct{} // closed when a write failed (err says why)
}

func newWriters(db *sql.DB, seedVersion uint64, products, warehouses int) *writers {
	return &writers{db: db, seedVersion: seedVersion, products: products, warehouses: warehouses,
		rows: make([]row, products*warehouses), failed: make(chan struct{})}
}

// index is the position of product p's row in warehouse w (both from 1).
func (w *writers) index(p, wh int64) int { return int(p-1)*w.warehouses + int(wh-1) }

func (w *writers) row(p, wh int64) *row { return &w.rows[w.index(p, wh)] }

// rankOf reads a row's rank back from the quantity an answer shows; ok is
// false when no write of the row (nor the seed) gave it that quantity.
func (w *writers) rankOf(p, wh int64, qty int32) (rank uint64, ok bool) {
	if qty >= qtyBase {
		return uint64(qty - qtyBase), true
	}
	return 0, qty == database.SeedQty(p, wh)
}

// snapshot copies a rank of every row (acked or started).
func (w *writers) snapshot(of func(*row) *atomic.Uint64) []uint64 {
	out := make([]uint64, len(w.rows))
	for i := range w.rows {
		out[i] = of(&w.rows[i]).Load()
	}
	return out
}

func acked(r *row) *atomic.Uint64   { return &r.acked }
func started(r *row) *atomic.Uint64 { return &r.started }

// pause holds the writers once the writes in flight have committed; only
// the test's goroutine pauses and resumes, so held needs no lock. Pausing
// held writers does nothing, so a cleanup can stop writers a failed
// scenario left held.
func (w *writers) pause() {
	if !w.held {
		w.gate.Lock()
		w.held = true
	}
}

func (w *writers) resume() {
	if w.held {
		w.held = false
		w.gate.Unlock()
	}
}

func (w *writers) fail(err error) {
	w.errOnce.Do(func() {
		w.err = err
		close(w.failed)
	})
}

// run starts n writers writing perSecond rows a second in all until ctx
// ends; writer i owns the products p with (p-1)%n == i. Stop them by
// pausing them, ending ctx and resuming them, so no write is cut short. The
// returned wait blocks until they have stopped.
func (w *writers) run(ctx context.Context, n, perSecond int, seed uint64) (wait func()) {
	var wg sync.WaitGroup
	every := time.Duration(n) * time.Second / time.Duration(perSecond)
	for i := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			owned := (w.products - i + n - 1) / n
			tk := time.NewTicker(every)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				p := int64(i + 1 + n*rng.IntN(owned))
				whs := []int64{int64(1 + rng.IntN(w.warehouses))}
				if rng.IntN(4) == 0 {
					whs = whs[:0]
					for wh := range w.warehouses {
						whs = append(whs, int64(wh+1))
					}
				}
				w.gate.RLock()
				if ctx.Err() != nil {
					w.gate.RUnlock()
					return
				}
				err := w.write(ctx, p, whs)
				w.gate.RUnlock()
				if err != nil && ctx.Err() == nil {
					w.fail(err)
					return
				}
			}
		})
	}
	return wg.Wait
}

const updateRow = "UPDATE stock_items SET qty_salable = ?, version = ? WHERE product_id = ? AND warehouse_id = ?"

// writeLimit bounds one write, so a database that hangs fails the test
// instead of holding the writers (and pause) forever.
const writeLimit = 30 * time.Second

// write gives the rows of product p in warehouses whs their next rank: one
// statement, or a transaction when there are several.
func (w *writers) write(ctx context.Context, p int64, whs []int64) error {
	ctx, cancel := context.WithTimeout(ctx, writeLimit)
	defer cancel()
	exec := w.db.ExecContext
	var tx *sql.Tx
	if len(whs) > 1 {
		var err error
		if tx, err = w.db.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // a no-op after Commit
		exec = tx.ExecContext
	}
	ranks := make([]uint64, len(whs))
	for i, wh := range whs {
		ranks[i] = w.row(p, wh).started.Add(1)
		res, err := exec(ctx, updateRow, qtyBase+ranks[i], w.seedVersion+ranks[i], p, wh)
		if err != nil {
			return fmt.Errorf("update product %d warehouse %d: %w", p, wh, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("update product %d warehouse %d: %d rows changed (%v)", p, wh, n, err)
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit product %d: %w", p, err)
		}
		w.txs.Add(int64(len(whs)))
	}
	for i, wh := range whs {
		w.row(p, wh).acked.Store(ranks[i])
	}
	w.writes.Add(int64(len(whs)))
	return nil
}

// matchDB compares the database with what the writers committed; call it
// while they are paused. A difference is a fault of the test.
func (w *writers) matchDB(ctx context.Context) ([]string, error) {
	rows, err := w.db.QueryContext(ctx, "SELECT product_id, warehouse_id, qty_salable, version FROM stock_items")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bad []string
	seen := 0
	for rows.Next() {
		var p, wh int64
		var qty int32
		var version uint64
		if err := rows.Scan(&p, &wh, &qty, &version); err != nil {
			return nil, err
		}
		seen++
		if p < 1 || p > int64(w.products) || wh < 1 || wh > int64(w.warehouses) {
			bad = append(bad, fmt.Sprintf("row (%d,%d) no writer knows", p, wh))
			continue
		}
		want := w.row(p, wh).acked.Load()
		rank, ok := w.rankOf(p, wh, qty)
		if !ok || rank != want || version != w.seedVersion+want {
			bad = append(bad, fmt.Sprintf("row (%d,%d): database qty %d version %d, writers rank %d", p, wh, qty, version, want))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != len(w.rows) {
		bad = append(bad, fmt.Sprintf("%d rows in the database, the writers know %d", seen, len(w.rows)))
	}
	return bad, nil
}
