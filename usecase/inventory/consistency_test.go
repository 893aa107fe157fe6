package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/cache/bigcachestore"
	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// laggingRepo reads like a replica of MariaDB that lags behind it: it has
// applied the commits up to an index that trails the newest by a random
// distance and never goes back, so a row read from it can be an older
// version, a row already deleted, or missing where one was re-inserted
// since. Every query also runs the real query and waits a little before and
// after, so events keep arriving while fills are in flight.
type laggingRepo struct {
	*gormrepo.Repository
	warehouses map[int64]domain.Warehouse
	initial    map[rowKey]rowState // the seeded rows, before any commit

	mu      sync.Mutex
	log     []rowCommit // every commit, in commit order
	applied int         // the replica has applied log[:applied]
	stale   atomic.Int64
}

type rowKey struct{ p, w int64 }

type rowState struct {
	row     domain.StockRow
	deleted bool
}

type rowCommit struct {
	key   rowKey
	state rowState
}

func (r *laggingRepo) committed(row domain.StockRow, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, rowCommit{rowKey{row.ProductID, row.WarehouseID}, rowState{row, deleted}})
}

// catchUp moves the replica forward, to up to lag commits behind the newest.
func (r *laggingRepo) catchUp(lag int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = max(r.applied, len(r.log)-lag)
}

func (r *laggingRepo) StockByProducts(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	primary, err := r.Repository.StockByProducts(ctx, ids)
	time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	state := make(map[rowKey]rowState)
	for k, st := range r.initial {
		if slices.Contains(ids, k.p) {
			state[k] = st
		}
	}
	for _, c := range r.log[:r.applied] {
		if _, wanted := state[c.key]; wanted {
			state[c.key] = c.state
		}
	}
	r.mu.Unlock()
	var out []domain.StockWithWarehouse
	for _, st := range state {
		if !st.deleted {
			out = append(out, domain.StockWithWarehouse{Stock: st.row, Warehouse: r.warehouses[st.row.WarehouseID], HasWarehouse: true})
		}
	}
	if len(out) != len(primary) || fmt.Sprint(sortedRows(out)) != fmt.Sprint(sortedRows(primary)) {
		r.stale.Add(1)
	}
	return out, nil
}

// Position: a replica's position would say how far it had applied; the
// events here carry no GTIDs to compare with, so it says nothing (and the
// primary's, which the embedded repository would read, would be wrong).
func (r *laggingRepo) Position(context.Context) (domain.SourcePos, error) { return nil, nil }

func sortedRows(rows []domain.StockWithWarehouse) []domain.StockRow {
	out := make([]domain.StockRow, len(rows))
	for i, r := range rows {
		out[i] = r.Stock
	}
	slices.SortFunc(out, func(a, b domain.StockRow) int {
		if a.ProductID != b.ProductID {
			return int(a.ProductID - b.ProductID)
		}
		return int(a.WarehouseID - b.WarehouseID)
	})
	return out
}

// The consistency torture test. Writers update, delete and re-insert rows in
// MariaDB; versions come from a per-row counter that never repeats, even
// across a delete and a re-insert, and qty is the version minus one, so
// "backwards" is visible in the answer. Each write becomes the event a real
// source makes for it: an update or insert carries the row as it is now, a
// DELETE the row as it was (the version it already had). Fills read through
// a lagging replica; a publisher delivers each row's events in commit order
// but with random delays, duplicates and old re-deliveries, interleaved
// across rows; readers read concurrently, with a TTL short enough that
// entries keep expiring and refilling while events land. Afterwards every
// key must equal the database and no reader may have seen a row go back.
//
// Deletes travel in one of the two ways sources send them: as delete events
// (Debezium's envelope, or flattened rows with __deleted), or as nothing but
// a null value with the row's key (a flattened stream without __deleted).
func TestConsistencyTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("torture test is not short")
	}
	for _, mode := range []struct {
		name      string
		nullValue bool
	}{{"delete events", false}, {"null-value deletes", true}} {
		t.Run(mode.name, func(t *testing.T) { torture(t, mode.nullValue) })
	}
}

func torture(t *testing.T, nullDeletes bool) {
	db := dbtest.MySQL(t)
	const (
		products   = 150
		warehouses = 3
		writers    = 6
		writes     = 4000
		partitions = 6
		readers    = 6
	)
	seed(t, db, products, warehouses)

	lagging := &laggingRepo{Repository: gormrepo.New(db, nil), warehouses: map[int64]domain.Warehouse{}, initial: map[rowKey]rowState{}}
	ws, err := lagging.Warehouses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		lagging.warehouses[w.ID] = w
	}
	for p := int64(1); p <= products; p++ {
		for w := int64(1); w <= warehouses; w++ {
			lagging.initial[rowKey{p, w}] = rowState{row: domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: 0, Version: 1}}
		}
	}
	replicaDone := make(chan struct{})
	replicaStop := make(chan struct{})
	go func() {
		defer close(replicaDone)
		rng := rand.New(rand.NewPCG(3, 5))
		for {
			select {
			case <-replicaStop:
				return
			case <-time.After(200 * time.Microsecond):
				lagging.catchUp(rng.IntN(40))
			}
		}
	}()
	store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 16, Shards: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := inventory.New(inventory.Config{
		CacheEnabled: true, TTL: 30 * time.Millisecond, TTLJitter: 0.5, MarkerTTL: time.Minute,
		DBMaxInFlight: 16, DBQueueTimeout: 10 * time.Second, DBQueryTimeout: 10 * time.Second,
	}, lagging, store, nil, nil)
	if err := svc.Upkeep.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Each partition is an ordered queue, like a Kafka partition keyed by row.
	queues := make([]chan domain.StockChange, partitions)
	for i := range queues {
		queues[i] = make(chan domain.StockChange, writes)
	}
	var rows [products + 1][warehouses + 1]struct {
		sync.Mutex
		version uint64
		deleted bool
	}
	for p := range rows {
		for w := range rows[p] {
			rows[p][w].version = 1
		}
	}
	var wrote, deletes, reinserts atomic.Int64
	var offsets [partitions]atomic.Int64
	var writersWG sync.WaitGroup
	for g := 0; g < writers; g++ {
		writersWG.Add(1)
		go func(g int) {
			defer writersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for wrote.Add(1) <= writes {
				p, w := int64(rng.IntN(products)+1), int64(rng.IntN(warehouses)+1)
				row := &rows[p][w]
				// The row lock makes "commit, then enqueue" one step, so
				// each row's events are queued in commit order, as a
				// binlog would have them.
				row.Lock()
				ev, err := writeRow(db, p, w, &row.version, &row.deleted, rng.IntN(6) == 0, nullDeletes)
				if err == nil {
					lagging.committed(domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(row.version - 1), Version: row.version}, row.deleted)
					q := (p*31 + w) % partitions
					ev.Position = offsets[q].Add(1) // the event's offset in its partition, plus one
					queues[q] <- ev
					switch {
					case row.deleted:
						deletes.Add(1)
					case ev.Op == domain.OpCreate:
						reinserts.Add(1)
					}
				}
				row.Unlock()
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}(g)
	}

	var delivered, duplicates atomic.Int64
	var pubWG sync.WaitGroup
	for i := range queues {
		pubWG.Add(1)
		go func(q chan domain.StockChange, i int) {
			defer pubWG.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			var history []domain.StockChange
			for ev := range q {
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				svc.Changes.ApplyStock(ev)
				delivered.Add(1)
				history = append(history, ev)
				if rng.IntN(5) == 0 { // replay from an older offset, as after a broken session
					from := max(0, len(history)-1-rng.IntN(50))
					for _, old := range history[from:] {
						svc.Changes.ApplyStock(old)
						duplicates.Add(1)
					}
				}
				if rng.IntN(10) == 0 { // the same event twice in a row
					svc.Changes.ApplyStock(ev)
					duplicates.Add(1)
				}
			}
		}(queues[i], i)
	}

	stop := make(chan struct{})
	var reads, backwards atomic.Int64
	var readWG sync.WaitGroup
	for r := 0; r < readers; r++ {
		readWG.Add(1)
		go func(r int) {
			defer readWG.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 13))
			// Per row: the highest qty seen, and whether it was seen
			// deleted since. A row may vanish (deleted) and come back with
			// a higher qty (re-inserted), never at or below what was seen.
			type seenRow struct {
				qty  int32
				gone bool
			}
			seen := map[rowKey]seenRow{}
			observe := func(p int64, inv domain.ProductInventory) {
				present := map[int64]bool{}
				for _, l := range inv.Warehouses {
					var w int64
					fmt.Sscanf(l.WarehouseCode, "WH-%d", &w)
					present[w] = true
					k := rowKey{p, w}
					prev, ok := seen[k]
					if ok && (l.QtySalable < prev.qty || prev.gone && l.QtySalable == prev.qty) {
						backwards.Add(1)
						t.Errorf("reader %d: product %d %s went back from %d (gone %v) to %d", r, p, l.WarehouseCode, prev.qty, prev.gone, l.QtySalable)
					}
					seen[k] = seenRow{qty: l.QtySalable}
				}
				for w := int64(1); w <= warehouses; w++ {
					if k := (rowKey{p, w}); !present[w] {
						if prev, ok := seen[k]; ok {
							prev.gone = true
							seen[k] = prev
						}
					}
				}
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				reads.Add(1)
				if rng.IntN(4) == 0 {
					ids := []int64{int64(rng.IntN(products) + 1), int64(rng.IntN(products) + 1), int64(rng.IntN(products) + 1)}
					res, err := svc.Reader.BatchGetProductInventory(context.Background(), ids)
					if err != nil {
						t.Errorf("batch: %v", err)
						return
					}
					for _, inv := range res.Found {
						observe(inv.ProductID, inv)
					}
					for _, id := range res.NotFound {
						observe(id, domain.ProductInventory{ProductID: id})
					}
					continue
				}
				p := int64(rng.IntN(products) + 1)
				inv, err := svc.Reader.GetProductInventory(context.Background(), p)
				if err != nil && !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("get: %v", err)
					return
				}
				observe(p, inv)
			}
		}(r)
	}

	writersWG.Wait()
	for _, q := range queues {
		close(q)
	}
	pubWG.Wait()
	close(stop)
	readWG.Wait()
	close(replicaStop)
	<-replicaDone
	lagging.catchUp(0)

	// Zero stale: every key, read through the cache, equals the database.
	repo := gormrepo.New(db, nil)
	stale := 0
	for p := int64(1); p <= products; p++ {
		got, err := svc.Reader.GetProductInventory(context.Background(), p)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			t.Fatal(err)
		}
		rows, err := repo.StockByProducts(context.Background(), []int64{p})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := domain.InventoryFromJoined(p, rows)
		if fmt.Sprint(got.Warehouses) != fmt.Sprint(want.Warehouses) {
			stale++
			t.Errorf("product %d: cache %v, database %v", p, got, want)
		}
	}
	t.Logf("torture: %d writes (%d deletes, %d re-inserts), %d events delivered + %d duplicates/replayed, %d reads, %d rows read from the lagging replica, %d stale keys, %d backwards reads",
		writes, deletes.Load(), reinserts.Load(), delivered.Load(), duplicates.Load(), reads.Load(), lagging.stale.Load(), stale, backwards.Load())
	if delivered.Load() != writes {
		t.Fatalf("delivered %d events for %d writes", delivered.Load(), writes)
	}
	if deletes.Load() == 0 || reinserts.Load() == 0 {
		t.Fatal("the writers made no delete or no re-insert")
	}
}

// writeRow makes one write of row (p, w) in its own transaction: a DELETE
// when del is set and the row exists, a re-insert when it does not, an
// update otherwise. version is the row's counter (it never repeats); qty is
// always version-1. It returns the event a real source makes for the write.
func writeRow(db *gorm.DB, p, w int64, version *uint64, deleted *bool, del, nullDeletes bool) (domain.StockChange, error) {
	cur := domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(*version - 1), Version: *version}
	next := domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(*version), Version: *version + 1}
	switch {
	case *deleted:
		if err := db.Exec("INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (?, ?, ?, ?, NOW(6))",
			p, w, next.QtySalable, next.Version).Error; err != nil {
			return domain.StockChange{}, fmt.Errorf("re-insert (%d,%d): %w", p, w, err)
		}
		*version, *deleted = next.Version, false
		return domain.StockChange{Op: domain.OpCreate, Row: next}, nil
	case del:
		res := db.Exec("DELETE FROM stock_items WHERE product_id = ? AND warehouse_id = ?", p, w)
		if res.Error != nil || res.RowsAffected != 1 {
			return domain.StockChange{}, fmt.Errorf("delete (%d,%d): %v, %d rows", p, w, res.Error, res.RowsAffected)
		}
		*deleted = true
		if nullDeletes {
			return domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: p, WarehouseID: w}, ByKey: true}, nil
		}
		// A DELETE changes no column: the event carries the row as it was.
		return domain.StockChange{Op: domain.OpDelete, Row: cur}, nil
	}
	res := db.Exec("UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = NOW(6) WHERE product_id = ? AND warehouse_id = ?",
		next.QtySalable, next.Version, p, w)
	if res.Error != nil || res.RowsAffected != 1 {
		return domain.StockChange{}, fmt.Errorf("update (%d,%d): %v, %d rows", p, w, res.Error, res.RowsAffected)
	}
	*version = next.Version
	return domain.StockChange{Op: domain.OpUpdate, Row: next}, nil
}

func seed(t *testing.T, db *gorm.DB, products, warehouses int) {
	t.Helper()
	for w := 1; w <= warehouses; w++ {
		if err := db.Exec("INSERT INTO warehouses (id, code, name, is_active, version, updated_at) VALUES (?, ?, ?, 1, 1, NOW(6))",
			w, fmt.Sprintf("WH-%d", w), fmt.Sprintf("Warehouse %d", w)).Error; err != nil {
			t.Fatal(err)
		}
	}
	for p := 1; p <= products; p++ {
		for w := 1; w <= warehouses; w++ {
			if err := db.Exec("INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (?, ?, 0, 1, NOW(6))", p, w).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
}
