package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// laggingRepo reads MariaDB like a lagging replica: every query waits a
// little before and after reading, so events keep arriving while fills are
// in flight, and one query in three answers some rows with an older version
// taken from what was written before.
type laggingRepo struct {
	*gormrepo.Repository
	mu      sync.Mutex
	history map[rowKey][]domain.StockRow // every committed version, in order
	stale   atomic.Int64
}

func (r *laggingRepo) committed(row domain.StockRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := rowKey{row.ProductID, row.WarehouseID}
	r.history[k] = append(r.history[k], row)
}

func (r *laggingRepo) StockByProducts(ctx context.Context, ids []int64) ([]domain.StockWithWarehouse, error) {
	time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	rows, err := r.Repository.StockByProducts(ctx, ids)
	time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	if err != nil || rand.IntN(3) != 0 {
		return rows, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range rows {
		h := r.history[rowKey{rows[i].Stock.ProductID, rows[i].Stock.WarehouseID}]
		if len(h) < 2 {
			continue
		}
		older := h[max(0, len(h)-1-rand.IntN(5)-1)]
		if older.Version < rows[i].Stock.Version {
			rows[i].Stock = older
			r.stale.Add(1)
		}
	}
	return rows, nil
}

type rowKey struct{ p, w int64 }

// The consistency torture test. Writers bump rows in MariaDB (qty grows by
// one per write, so "backwards" is visible in the answer); fills read
// through a lagging replica; a publisher
// delivers each row's events in commit order but with random delays,
// duplicates and old re-deliveries, interleaved across rows; readers read
// concurrently, with a TTL short enough that entries keep expiring and
// refilling while events land. Afterwards every key must equal the database
// and no reader may have seen a row go backwards.
func TestConsistencyTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("torture test is not short")
	}
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

	lagging := &laggingRepo{Repository: gormrepo.New(db, nil), history: map[rowKey][]domain.StockRow{}}
	store, err := bigcachestore.New(bigcachestore.Config{SizeMB: 16, Shards: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := inventory.NewService(inventory.Config{
		CacheEnabled: true, TTL: 30 * time.Millisecond, TTLJitter: 0.5, MarkerTTL: time.Minute, HotEntries: 10000,
		DBMaxInFlight: 16, DBQueueTimeout: 10 * time.Second, DBQueryTimeout: 10 * time.Second,
	}, lagging, store, nil, nil)
	if err := svc.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Each partition is an ordered queue, like a Kafka partition keyed by row.
	queues := make([]chan domain.StockChange, partitions)
	for i := range queues {
		queues[i] = make(chan domain.StockChange, writes)
	}
	var rowLocks [products + 1][warehouses + 1]sync.Mutex
	var wrote atomic.Int64
	var writersWG sync.WaitGroup
	for g := 0; g < writers; g++ {
		writersWG.Add(1)
		go func(g int) {
			defer writersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for wrote.Add(1) <= writes {
				p, w := int64(rng.IntN(products)+1), int64(rng.IntN(warehouses)+1)
				// The row lock makes "commit, then enqueue" one step, so
				// each row's events are queued in commit order, as a
				// binlog would have them.
				rowLocks[p][w].Lock()
				after, err := bump(db, p, w)
				if err == nil {
					lagging.committed(after)
					queues[(p*31+w)%partitions] <- domain.StockChange{Op: domain.OpUpdate, Row: after}
				}
				rowLocks[p][w].Unlock()
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
				svc.ApplyStock(ev)
				delivered.Add(1)
				history = append(history, ev)
				if rng.IntN(5) == 0 { // re-deliver something old
					svc.ApplyStock(history[rng.IntN(len(history))])
					duplicates.Add(1)
				}
				if rng.IntN(10) == 0 { // the same event twice in a row
					svc.ApplyStock(ev)
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
			seen := map[string]int32{}
			observe := func(inv domain.ProductInventory) {
				for _, l := range inv.Warehouses {
					k := fmt.Sprint(inv.ProductID, l.WarehouseCode)
					if prev, ok := seen[k]; ok && l.QtySalable < prev {
						backwards.Add(1)
						t.Errorf("reader %d: product %d %s went back from %d to %d", r, inv.ProductID, l.WarehouseCode, prev, l.QtySalable)
					}
					seen[k] = l.QtySalable
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
					res, err := svc.BatchGetProductInventory(context.Background(), ids)
					if err != nil {
						t.Errorf("batch: %v", err)
						return
					}
					for _, inv := range res.Found {
						observe(inv)
					}
					continue
				}
				inv, err := svc.GetProductInventory(context.Background(), int64(rng.IntN(products)+1))
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				observe(inv)
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

	// Zero stale: every key, read through the cache, equals the database.
	repo := gormrepo.New(db, nil)
	stale := 0
	for p := int64(1); p <= products; p++ {
		got, err := svc.GetProductInventory(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := repo.StockByProducts(context.Background(), []int64{p})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := domain.InventoryFromJoined(p, rows)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			stale++
			t.Errorf("product %d: cache %v, database %v", p, got, want)
		}
	}
	t.Logf("torture: %d writes, %d events delivered + %d duplicates/old re-deliveries, %d reads, %d rows read from the lagging replica, %d stale keys, %d backwards reads",
		writes, delivered.Load(), duplicates.Load(), reads.Load(), lagging.stale.Load(), stale, backwards.Load())
	if delivered.Load() != writes {
		t.Fatalf("delivered %d events for %d writes", delivered.Load(), writes)
	}
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

// bump adds one to a row's qty and version in one transaction and returns
// the after-image.
func bump(db *gorm.DB, p, w int64) (domain.StockRow, error) {
	var after domain.StockRow
	err := db.Transaction(func(tx *gorm.DB) error {
		var cur struct {
			Qty     int32
			Version uint64
		}
		if err := tx.Raw("SELECT qty_salable AS qty, version FROM stock_items WHERE product_id = ? AND warehouse_id = ? FOR UPDATE", p, w).Scan(&cur).Error; err != nil {
			return err
		}
		if cur.Version == 0 {
			return errors.New("row missing")
		}
		after = domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: cur.Qty + 1, Version: cur.Version + 1}
		return tx.Exec("UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = NOW(6) WHERE product_id = ? AND warehouse_id = ?",
			after.QtySalable, after.Version, p, w).Error
	})
	return after, err
}
