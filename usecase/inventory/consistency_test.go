package inventory_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
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
	// positions: the replica says its position, as a real one does: the
	// GTID of the last commit it applied (seeded: where it stood before
	// any). It then applies the commits in binlog order (see committed).
	positions bool
	seeded    domain.SourcePos

	mu      sync.Mutex
	log     []rowCommit // every commit, in commit order
	applied int         // the replica has applied log[:applied]
	// With positions: tick numbers the commits begun and logged;
	// inflight are the tickets of the commits begun and not logged yet.
	tick     uint64
	inflight map[uint64]bool
	stale    atomic.Int64
	// feedBound: the replica applies no commit of a row before the feed
	// has delivered its events (see torture: null values in binlog
	// order); nth counts the commits logged per row, fed those delivered.
	feedBound bool
	nth, fed  map[rowKey]int
}

type rowKey struct{ p, w int64 }

// queuedChange is an event on its way to the service; last: the last event
// of its commit.
type queuedChange struct {
	ev   domain.StockChange
	last bool
}

type rowState struct {
	row     domain.StockRow
	deleted bool
}

type rowCommit struct {
	key   rowKey
	state rowState
	gtid  domain.GTID // with positions: the commit's transaction
	done  uint64      // with positions: the tick at which it was logged
	nth   int         // the row's how-manieth commit
}

// begin notes a commit about to be sent (with positions) and returns its
// ticket, for committed.
func (r *laggingRepo) begin() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tick++
	r.inflight[r.tick] = true
	return r.tick
}

// committed logs a commit of one row. With positions the log past what the
// replica applied is kept in GTID order, and the replica applies a commit
// only once no commit begun before it was logged is still in flight (see
// catchUp): a commit logged before another one began has the smaller
// GTID, so the replica applies them in binlog order, and its position, the
// GTID of the last one applied, covers exactly what it applied.
func (r *laggingRepo) committed(row domain.StockRow, deleted bool, g domain.GTID, ticket uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := rowCommit{key: rowKey{row.ProductID, row.WarehouseID}, state: rowState{row, deleted}, gtid: g}
	r.nth[c.key]++
	c.nth = r.nth[c.key]
	if !r.positions {
		r.log = append(r.log, c)
		return
	}
	delete(r.inflight, ticket)
	r.tick++
	c.done = r.tick
	i := r.applied + sort.Search(len(r.log)-r.applied, func(i int) bool { return r.log[r.applied+i].gtid.Seq > g.Seq })
	r.log = slices.Insert(r.log, i, c)
}

// abandon forgets a commit begun that failed: the test fails, and the
// replica must still catch up for its last checks.
func (r *laggingRepo) abandon(ticket uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inflight, ticket)
}

// catchUp moves the replica forward, to up to lag commits behind the newest.
func (r *laggingRepo) catchUp(lag int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	target := len(r.log) - lag
	if r.positions && len(r.inflight) > 0 {
		oldest := uint64(math.MaxUint64)
		for t := range r.inflight {
			oldest = min(oldest, t)
		}
		for i := r.applied; i < target; i++ {
			if r.log[i].done > oldest {
				target = i // a commit still in flight may come before it
				break
			}
		}
	}
	if r.feedBound {
		for i := r.applied; i < target; i++ {
			if r.log[i].nth > r.fed[r.log[i].key] {
				target = i
				break
			}
		}
	}
	r.applied = max(r.applied, target)
}

// delivered notes that the feed has delivered every event of the next
// commit of row k.
func (r *laggingRepo) delivered(k rowKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fed[k]++
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

// Position says how far the replica has applied. Without positions (a
// source without GTIDs) it says nothing (and the primary's, which the
// embedded repository would read, would be wrong). With them it is the
// GTID of the last commit applied: a read taken after it reflects every
// commit up to it and, the replica applying in order, none after it until
// the position moves.
func (r *laggingRepo) Position(context.Context) (domain.SourcePos, error) {
	if !r.positions {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pos := slices.Clone(r.seeded)
	if r.applied == 0 {
		return pos, nil
	}
	g := r.log[r.applied-1].gtid
	for i := range pos {
		if pos[i].Source == g.Source {
			pos[i] = g
			return pos, nil
		}
	}
	return append(pos, g), nil
}

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
//
// It runs in both orders. In binlog order (a table without a version
// column) events carry no version but their transaction's GTID and their
// place in it, a database read carries none either, and the replica says
// how far it has applied, as the service asks before and after each read;
// a deleted row is sometimes re-inserted in the transaction that deletes
// it, so two changes of one row share a GTID. Version order runs as a
// source without GTIDs sends it (the replica cannot say its position), and
// with them.
//
// With delete events and positions the feed also stalls now and then, so
// that the database runs ahead of it and fills read what the backlog will
// say only later. Not otherwise: without positions a fill cannot tell a
// change it read past from a replica's lag (README: "Without GTIDs"), and
// a null value names no transaction, so where nothing places it (binlog
// order; version order when no change of the row was seen within the
// marker TTL) the row stays hidden until its next change arrives, which a
// fill ahead of the feed may already have read (README: null values). With
// null values in binlog order the replica is moreover kept from applying a
// row's commit before the feed has delivered it: a loaded machine slows the
// publishers enough to let the database run ahead without any stall.
func TestConsistencyTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("torture test is not short")
	}
	for _, m := range []struct {
		name                string
		order               domain.Order
		positions, nullDels bool
	}{
		{"by-version/delete events", domain.ByVersion, false, false},
		{"by-version/null-value deletes", domain.ByVersion, false, true},
		{"by-version/with positions, feed stalls/delete events", domain.ByVersion, true, false},
		{"by-binlog/feed stalls/delete events", domain.ByBinlog, true, false},
		{"by-binlog/null-value deletes", domain.ByBinlog, true, true},
	} {
		t.Run(m.name, func(t *testing.T) {
			torture(t, m.order, m.positions, m.nullDels, m.positions && !m.nullDels)
		})
	}
}

func torture(t *testing.T, order domain.Order, positions, nullDeletes, stalls bool) {
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
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}

	lagging := &laggingRepo{Repository: gormrepo.New(db, nil), warehouses: map[int64]domain.Warehouse{}, initial: map[rowKey]rowState{}, inflight: map[uint64]bool{},
		nth: map[rowKey]int{}, fed: map[rowKey]int{}}
	// A null value in binlog order stands at no known place: a fill that
	// read past it (the database ahead of the feed) may show a row that
	// the null then hides until its next change arrives (README: null
	// values). That is the promise, so the database is kept from running
	// ahead of the feed there, whatever the machine's load does to the
	// publishers.
	lagging.feedBound = nullDeletes && order.Binlog
	var seedVersion uint64 = 1
	if positions {
		var pos string
		if err := sqlDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
			t.Fatalf("read the position after the seed: %v", err)
		}
		if lagging.seeded, err = domain.ParseSourcePos(pos); err != nil {
			t.Fatal(err)
		}
		lagging.positions = true
	}
	if order.Binlog {
		// The table keeps its version column (the writers must fill
		// it), but nothing the service sees carries it: not the events,
		// not a read.
		m := domain.DefaultMapping()
		m.Stock.Version, m.Warehouses.Version = "", ""
		repo, err := gormrepo.NewMapped(db, nil, m)
		if err != nil {
			t.Fatal(err)
		}
		lagging.Repository, seedVersion = repo, 0
	}
	ws, err := lagging.Warehouses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		lagging.warehouses[w.ID] = w
	}
	for p := int64(1); p <= products; p++ {
		for w := int64(1); w <= warehouses; w++ {
			lagging.initial[rowKey{p, w}] = rowState{row: domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: 0, Version: seedVersion}}
		}
	}
	replicaDone := make(chan struct{})
	replicaStop := make(chan struct{})
	go func() {
		defer close(replicaDone)
		rng := rand.New(rand.NewPCG(3, 5))
		// A lag held for a while: drawn afresh at every tick, the least
		// of a few draws would keep the replica all but caught up.
		lag, until := 0, time.Now()
		for {
			select {
			case <-replicaStop:
				return
			case <-time.After(200 * time.Microsecond):
				if time.Now().After(until) {
					lag, until = rng.IntN(150), time.Now().Add(time.Duration(rng.IntN(50))*time.Millisecond)
				}
				lagging.catchUp(lag)
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
		StockOrder: order, WarehouseOrder: order,
	}, lagging, store, nil, nil)
	if err := svc.Upkeep.LoadDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Each partition is an ordered queue, like a Kafka partition keyed by row.
	queues := make([]chan queuedChange, partitions)
	for i := range queues {
		queues[i] = make(chan queuedChange, 2*writes) // a transaction makes up to two events
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
	var wrote, deletes, reinserts, queued atomic.Int64
	var offsets [partitions]atomic.Int64
	var writersWG sync.WaitGroup
	for g := 0; g < writers; g++ {
		writersWG.Add(1)
		go func(g int) {
			defer writersWG.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var bw *gtidWriter
			if positions {
				conn, err := sqlDB.Conn(context.Background())
				if err != nil {
					t.Errorf("writer %d: connection: %v", g, err)
					return
				}
				defer conn.Close()
				bw = &gtidWriter{conn: conn, lagging: lagging, versions: !order.Binlog}
			}
			var p, w int64
			for wrote.Add(1) <= writes {
				// Now and then the row just written is written again at
				// once (an update and then a delete, a delete and then a
				// re-insert): two changes of a row within an entry's
				// lifetime, while the replica has the first and not the
				// second.
				if p == 0 || rng.IntN(4) != 0 {
					p, w = pickProduct(rng, products), int64(rng.IntN(warehouses)+1)
				}
				row := &rows[p][w]
				// The row lock makes "commit, then enqueue" one step, so
				// each row's events are queued in commit order, as a
				// binlog would have them.
				row.Lock()
				var evs []domain.StockChange
				var err error
				if bw != nil {
					evs, err = bw.write(p, w, &row.version, &row.deleted, rng.IntN(6) == 0, rng.IntN(3) == 0, nullDeletes)
				} else {
					var ev domain.StockChange
					ev, err = writeRow(db, p, w, &row.version, &row.deleted, rng.IntN(6) == 0, nullDeletes)
					evs = []domain.StockChange{ev}
					if err == nil {
						lagging.committed(domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(row.version - 1), Version: row.version}, row.deleted, domain.GTID{}, 0)
					}
				}
				if err == nil {
					q := (p*31 + w) % partitions
					for i, ev := range evs {
						ev.Position = offsets[q].Add(1) // the event's offset in its partition, plus one
						queues[q] <- queuedChange{ev: ev, last: i == len(evs)-1}
						queued.Add(1)
						switch ev.Op {
						case domain.OpDelete:
							deletes.Add(1)
						case domain.OpCreate:
							reinserts.Add(1)
						}
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
		go func(q chan queuedChange, i int) {
			defer pubWG.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			var history []domain.StockChange
			for qc := range q {
				ev := qc.ev
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				if stalls && rng.IntN(100) == 0 {
					// The feed stalls (a broker, a consumer): the database,
					// replica included, runs ahead of it, and fills read
					// what events still to come will say.
					time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
				}
				svc.Changes.ApplyStock(ev)
				delivered.Add(1)
				if qc.last {
					lagging.delivered(rowKey{ev.Row.ProductID, ev.Row.WarehouseID})
				}
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
					ids := []int64{pickProduct(rng, products), pickProduct(rng, products), pickProduct(rng, products)}
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
				p := pickProduct(rng, products)
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
	if delivered.Load() != queued.Load() || queued.Load() < writes {
		t.Fatalf("delivered %d events of %d queued for %d writes", delivered.Load(), queued.Load(), writes)
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

// pickProduct prefers a hot tenth of the products half of the time, so
// that writes, fills and reads of the same rows collide often.
func pickProduct(rng *rand.Rand, products int) int64 {
	if rng.IntN(2) == 0 {
		return int64(rng.IntN(max(1, products/10)) + 1)
	}
	return int64(rng.IntN(products) + 1)
}

// gtidWriter writes as writeRow does, for a source that sends GTIDs: each
// write is a transaction on a connection of its own, so that its GTID can be
// read after the commit (@@last_gtid is the session's), and its events
// carry that GTID and their place in the transaction, and the version only
// in version order. A delete is sometimes followed by a re-insert of the row
// in the same transaction.
type gtidWriter struct {
	conn    *sql.Conn
	lagging *laggingRepo
	// versions: the events carry the version column (version order).
	versions bool
}

func (bw *gtidWriter) write(p, w int64, version *uint64, deleted *bool, del, reinsert, nullDeletes bool) ([]domain.StockChange, error) {
	ctx := context.Background()
	cur := domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(*version - 1)}
	next := domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: int32(*version)}
	if bw.versions {
		cur.Version, next.Version = *version, *version+1
	}
	insert := func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (?, ?, ?, ?, NOW(6))",
			p, w, next.QtySalable, *version+1)
		return err
	}
	exec := func(tx *sql.Tx, query string, args ...any) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%d rows affected (%v), want 1", n, err)
		}
		return nil
	}
	tx, err := bw.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	// ops are the transaction's changes, in order; each one's Sub is its
	// place.
	var ops []domain.StockChange
	switch {
	case *deleted:
		err = insert(tx)
		ops = append(ops, domain.StockChange{Op: domain.OpCreate, Row: next})
	case del:
		err = exec(tx, "DELETE FROM stock_items WHERE product_id = ? AND warehouse_id = ?", p, w)
		ops = append(ops, domain.StockChange{Op: domain.OpDelete, Row: cur})
		if err == nil && reinsert {
			err = insert(tx)
			ops = append(ops, domain.StockChange{Op: domain.OpCreate, Row: next})
		}
	default:
		err = exec(tx, "UPDATE stock_items SET qty_salable = ?, version = ?, updated_at = NOW(6) WHERE product_id = ? AND warehouse_id = ?",
			next.QtySalable, *version+1, p, w)
		ops = append(ops, domain.StockChange{Op: domain.OpUpdate, Row: next})
	}
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("write (%d,%d): %w", p, w, err)
	}
	final := ops[len(ops)-1]
	gone := final.Op == domain.OpDelete
	ticket := bw.lagging.begin()
	g, err := commitGTID(ctx, bw.conn, tx)
	if err != nil {
		bw.lagging.abandon(ticket)
		return nil, fmt.Errorf("write (%d,%d): %w", p, w, err)
	}
	bw.lagging.committed(final.Row, gone, g, ticket)
	if !gone {
		*version++
	}
	*deleted = gone
	for i := range ops {
		ops[i].GTID, ops[i].Sub = g, domain.SubOf(uint64(i+1), 0)
		if nullDeletes && ops[i].Op == domain.OpDelete {
			// A null value carries the key alone: no image, no place.
			ops[i] = domain.StockChange{Op: domain.OpDelete, Row: domain.StockRow{ProductID: p, WarehouseID: w}, ByKey: true}
		}
	}
	return ops, nil
}

// commitGTID commits tx, opened on conn, and returns its GTID as MariaDB
// names it (@@last_gtid of the session).
func commitGTID(ctx context.Context, conn *sql.Conn, tx *sql.Tx) (domain.GTID, error) {
	if err := tx.Commit(); err != nil {
		return domain.GTID{}, fmt.Errorf("commit: %w", err)
	}
	var raw string
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&raw); err != nil {
		return domain.GTID{}, fmt.Errorf("read the transaction's GTID (@@last_gtid): %w", err)
	}
	g, ok := domain.ParseGTID(raw)
	if !ok {
		return domain.GTID{}, fmt.Errorf("@@last_gtid %q names no transaction", raw)
	}
	return g, nil
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
