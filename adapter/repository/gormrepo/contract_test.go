package gormrepo_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/usecase/inventory"
)

var _ inventory.StockRepository = (*gormrepo.Repository)(nil)

func TestRepositoryContract_SQLite(t *testing.T) { runContract(t, dbtest.SQLite(t)) }
func TestRepositoryContract_MySQL(t *testing.T)  { runContract(t, dbtest.MySQL(t)) }

// The data every step after "seed" starts from.
const (
	seedProducts   = 1200
	seedWarehouses = 3
)

// column is what the contract checks of one column.
type column struct {
	name    string
	notNull bool
}

var wantColumns = map[string][]column{
	"warehouses": {
		{"id", true}, {"code", true}, {"name", true}, {"is_active", true}, {"version", true}, {"updated_at", true},
	},
	"stock_items": {
		{"product_id", true}, {"warehouse_id", true}, {"qty_salable", true}, {"version", true}, {"updated_at", true},
	},
}

// runContract is the behaviour every database the repository runs on must
// show. Steps share one database and run in order.
func runContract(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	repo := gormrepo.New(db, tp)
	queries := countQueries(t, db)

	t.Run("migrate is idempotent and creates the documented schema", func(t *testing.T) {
		for range 2 {
			if err := database.Migrate(ctx, db); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
		}
		for table, want := range wantColumns {
			if got := columnsOf(t, db, table); !slices.Equal(got, want) {
				t.Errorf("%s columns = %v, want %v", table, got, want)
			}
		}
		if got := primaryKeyOf(t, db, "stock_items"); !slices.Equal(got, []string{"product_id", "warehouse_id"}) {
			t.Errorf("stock_items primary key = %v", got)
		}
		if got := primaryKeyOf(t, db, "warehouses"); !slices.Equal(got, []string{"id"}) {
			t.Errorf("warehouses primary key = %v", got)
		}
		if !indexExists(t, db, database.StockWarehouseIndex) {
			t.Errorf("index %s missing", database.StockWarehouseIndex)
		}
		if database.Dialect(db) == database.DriverMySQL {
			checkMySQLTypes(t, db)
		}
	})

	t.Run("empty tables", func(t *testing.T) {
		ws, err := repo.Warehouses(ctx)
		if err != nil || len(ws) != 0 {
			t.Errorf("Warehouses() = %v, %v; want none", ws, err)
		}
		rows, err := repo.StockByProducts(ctx, []int64{1, 2})
		if err != nil || len(rows) != 0 {
			t.Errorf("StockByProducts() = %v, %v; want none", rows, err)
		}
	})

	var seeded database.SeedStats
	t.Run("seed writes the documented shape and is repeatable", func(t *testing.T) {
		first, err := database.Seed(ctx, db, seedProducts, seedWarehouses)
		if err != nil {
			t.Fatal(err)
		}
		firstRows := allStock(t, db)
		checkSeeded(t, firstRows, first.Version)

		second, err := database.Seed(ctx, db, seedProducts, seedWarehouses)
		if err != nil {
			t.Fatal(err)
		}
		if second.Version <= first.Version {
			t.Fatalf("re-seed version %d not above %d", second.Version, first.Version)
		}
		secondRows := allStock(t, db)
		checkSeeded(t, secondRows, second.Version)
		for i := range firstRows {
			if firstRows[i].QtySalable != secondRows[i].QtySalable {
				t.Fatalf("quantity of %+v changed to %d between seeds", firstRows[i], secondRows[i].QtySalable)
			}
		}

		ws, err := repo.Warehouses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []domain.Warehouse{
			{ID: 1, Code: "WH-001", Name: "Warehouse 1", Active: true, Version: second.Version},
			{ID: 2, Code: "WH-002", Name: "Warehouse 2", Active: true, Version: second.Version},
			{ID: 3, Code: "WH-003", Name: "Warehouse 3", Active: true, Version: second.Version},
		}
		if !slices.Equal(ws, want) {
			t.Errorf("Warehouses() = %+v, want %+v", ws, want)
		}
		seeded = second
	})
	if seeded.Version == 0 {
		t.Fatal("seed failed; later steps need its data")
	}

	t.Run("stock by products joins warehouses", func(t *testing.T) {
		inactive := domain.Warehouse{ID: 2, Code: "WH-002", Name: "Warehouse 2 (closed)", Active: false}
		if err := repo.UpsertWarehouse(ctx, inactive); err != nil {
			t.Fatal(err)
		}
		if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: 1, WarehouseID: 99, QtySalable: 7, Version: 5}); err != nil {
			t.Fatal(err)
		}
		inactive.Version = warehouseVersion(t, repo, 2)

		got, err := repo.StockByProducts(ctx, []int64{1, 1, 999_999})
		if err != nil {
			t.Fatal(err)
		}
		sortRows(got)
		want := []domain.StockWithWarehouse{
			seededRow(1, 1, seeded.Version, true),
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: database.SeedQty(1, 2), Version: seeded.Version},
				Warehouse: inactive, HasWarehouse: true},
			seededRow(1, 3, seeded.Version, true),
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 99, QtySalable: 7, Version: 5}},
		}
		if !slices.Equal(got, want) {
			t.Errorf("StockByProducts(1, 1, 999999):\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("one query whatever the number of ids", func(t *testing.T) {
		for _, n := range []int{1, 2, 3, 5, 17, 100, 513, 1000, 1025} {
			ids := make([]int64, n)
			for i := range ids {
				// Descending, so the padding repeats an id that is not the
				// largest and order cannot matter.
				ids[i] = int64(n - i)
			}
			before := queries.Load()
			got, err := repo.StockByProducts(ctx, ids)
			if err != nil {
				t.Fatalf("%d ids: %v", n, err)
			}
			if q := queries.Load() - before; q != 1 {
				t.Errorf("%d ids took %d queries, want 1", n, q)
			}
			perProduct := map[int64]int{}
			for _, r := range got {
				perProduct[r.Stock.ProductID]++
			}
			for _, id := range ids {
				want := seedWarehouses
				if id > seedProducts {
					want = 0
				} else if id == 1 {
					want = 4 // the row pointing at warehouse 99
				}
				if perProduct[id] != want {
					t.Fatalf("%d ids: product %d has %d rows, want %d", n, id, perProduct[id], want)
				}
			}
			if len(perProduct) != min(n, seedProducts) {
				t.Errorf("%d ids: rows for %d products, want %d", n, len(perProduct), min(n, seedProducts))
			}
		}
	})

	t.Run("no ids means no query", func(t *testing.T) {
		before := queries.Load()
		for _, ids := range [][]int64{nil, {}} {
			got, err := repo.StockByProducts(ctx, ids)
			if got != nil || err != nil {
				t.Errorf("StockByProducts(%v) = %v, %v; want nil, nil", ids, got, err)
			}
		}
		if q := queries.Load() - before; q != 0 {
			t.Errorf("empty input ran %d queries", q)
		}
	})

	t.Run("ping", func(t *testing.T) {
		if err := repo.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ended contexts fail with the context's error", func(t *testing.T) {
		expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		cancelled, cancel2 := context.WithCancel(ctx)
		cancel2()
		calls := map[string]func(context.Context) error{
			"StockByProducts": func(c context.Context) error { _, err := repo.StockByProducts(c, []int64{1, 2}); return err },
			"Warehouses":      func(c context.Context) error { _, err := repo.Warehouses(c); return err },
			"Ping":            repo.Ping,
			"UpsertStock": func(c context.Context) error {
				return repo.UpsertStock(c, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1})
			},
			"DeleteStock": func(c context.Context) error { return repo.DeleteStock(c, 1, 1) },
			"UpsertWarehouse": func(c context.Context) error {
				return repo.UpsertWarehouse(c, domain.Warehouse{ID: 1, Code: "WH-001"})
			},
		}
		for name, call := range calls {
			if err := call(expired); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s with an expired deadline: %v, want context.DeadlineExceeded", name, err)
			}
			if err := call(cancelled); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
			}
		}
		_, err := repo.StockByProducts(expired, []int64{1, 2})
		if err == nil || !strings.HasPrefix(err.Error(), "load stock of 2 products: ") {
			t.Errorf("error %q lacks its context", err)
		}
		// Nothing was written by the calls above.
		if got := stockOf(t, repo, 1); len(got) != 4 || got[0].Stock.QtySalable != database.SeedQty(1, 1) {
			t.Errorf("product 1 changed: %+v", got)
		}
	})

	t.Run("upsert and delete stock", func(t *testing.T) {
		const product = 50_000
		if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: product, WarehouseID: 1, QtySalable: 42}); err != nil {
			t.Fatal(err)
		}
		first := stockOf(t, repo, product)
		if len(first) != 1 || first[0].Stock.QtySalable != 42 || first[0].Stock.Version <= seeded.Version {
			t.Fatalf("after insert: %+v (seed version %d)", first, seeded.Version)
		}
		before := time.Now().UTC().Truncate(time.Microsecond)
		if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: product, WarehouseID: 1, QtySalable: -3}); err != nil {
			t.Fatal(err)
		}
		after := time.Now().UTC()
		second := stockOf(t, repo, product)
		if len(second) != 1 || second[0].Stock.QtySalable != -3 || second[0].Stock.Version <= first[0].Stock.Version {
			t.Fatalf("after update: %+v, before it %+v", second, first)
		}
		if ts := updatedAt(t, db, "stock_items", "product_id", product); ts.Before(before) || ts.After(after) {
			t.Errorf("updated_at %v not within [%v, %v]", ts, before, after)
		}
		if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: product, WarehouseID: 1, QtySalable: 8, Version: 77}); err != nil {
			t.Fatal(err)
		}
		if got := stockOf(t, repo, product); len(got) != 1 || got[0].Stock.Version != 77 || got[0].Stock.QtySalable != 8 {
			t.Errorf("explicit version not written as given: %+v", got)
		}
		if err := repo.DeleteStock(ctx, product, 1); err != nil {
			t.Fatal(err)
		}
		if got := stockOf(t, repo, product); len(got) != 0 {
			t.Errorf("after delete: %+v", got)
		}
		if err := repo.DeleteStock(ctx, product, 1); err != nil {
			t.Errorf("deleting a missing row: %v", err)
		}
		for _, bad := range []domain.StockRow{{ProductID: 0, WarehouseID: 1}, {ProductID: 1, WarehouseID: -1}} {
			if err := repo.UpsertStock(ctx, bad); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("UpsertStock(%+v) = %v, want ErrInvalidArgument", bad, err)
			}
		}
	})

	t.Run("upsert warehouse", func(t *testing.T) {
		w := domain.Warehouse{ID: 10, Code: "WH-010", Name: "Warehouse ten", Active: true}
		if err := repo.UpsertWarehouse(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := repo.UpsertStock(ctx, domain.StockRow{ProductID: 60_000, WarehouseID: 10, QtySalable: 5}); err != nil {
			t.Fatal(err)
		}
		v1 := warehouseVersion(t, repo, 10)
		if v1 <= seeded.Version {
			t.Errorf("new warehouse version %d not above the seed's %d", v1, seeded.Version)
		}

		w.Name, w.Active, w.Code = "Warehouse ten (renamed)", false, "WH-TEN"
		if err := repo.UpsertWarehouse(ctx, w); err != nil {
			t.Fatal(err)
		}
		got := stockOf(t, repo, 60_000)
		if len(got) != 1 || !got[0].HasWarehouse || got[0].Warehouse.Name != w.Name || got[0].Warehouse.Active || got[0].Warehouse.Code != "WH-TEN" {
			t.Errorf("join after rename/deactivate: %+v", got)
		}
		if v2 := got[0].Warehouse.Version; v2 <= v1 {
			t.Errorf("warehouse version went from %d to %d", v1, v2)
		}

		taken := domain.Warehouse{ID: 11, Code: "WH-001", Name: "impostor", Active: true}
		err := repo.UpsertWarehouse(ctx, taken)
		if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), "already used by warehouse 1") {
			t.Errorf("code taken by another warehouse: %v", err)
		}
		ws, err := repo.Warehouses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 4 || ws[0].Name != "Warehouse 1" || ws[3].ID != 10 {
			t.Errorf("directory after a refused upsert: %+v", ws)
		}

		for _, bad := range []domain.Warehouse{
			{ID: 0, Code: "X"},
			{ID: 12, Code: ""},
			{ID: 12, Code: strings.Repeat("c", 33)},
			{ID: 12, Code: "X", Name: strings.Repeat("n", 256)},
		} {
			if err := repo.UpsertWarehouse(ctx, bad); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("UpsertWarehouse(id %d, code %d chars, name %d chars) = %v, want ErrInvalidArgument",
					bad.ID, len(bad.Code), len(bad.Name), err)
			}
		}
	})

	t.Run("spans describe each call", func(t *testing.T) {
		spansBefore := len(rec.Ended())
		// Products 1-3 have 3 rows each, plus product 1's row in warehouse 99.
		if _, err := repo.StockByProducts(ctx, []int64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		_, _ = repo.Warehouses(expired)

		spans := rec.Ended()[spansBefore:]
		if len(spans) != 2 {
			t.Fatalf("got %d spans, want 2", len(spans))
		}
		ok, failed := spans[0], spans[1]
		attrs := attrMap(ok.Attributes())
		if ok.Name() != "StockRepository.StockByProducts" || attrs["db.system"] != database.Dialect(db) ||
			attrs["db.operation"] != "SELECT" || attrs["gintoki.product_ids.count"] != "3" || attrs["gintoki.rows"] != "10" {
			t.Errorf("span %q attributes %v", ok.Name(), attrs)
		}
		if ok.Status().Code == codes.Error {
			t.Errorf("successful call has error status %v", ok.Status())
		}
		if failed.Name() != "StockRepository.Warehouses" || failed.Status().Code != codes.Error || len(failed.Events()) == 0 {
			t.Errorf("failed call span %q status %v events %d", failed.Name(), failed.Status(), len(failed.Events()))
		}
	})
}

// checkSeeded checks the stock rows of a seed of seedProducts x
// seedWarehouses, sorted by key.
func checkSeeded(t *testing.T, rows []domain.StockRow, version uint64) {
	t.Helper()
	if len(rows) != seedProducts*seedWarehouses {
		t.Fatalf("%d stock rows, want %d", len(rows), seedProducts*seedWarehouses)
	}
	for i, r := range rows {
		wantP, wantW := int64(i/seedWarehouses+1), int64(i%seedWarehouses+1)
		want := domain.StockRow{ProductID: wantP, WarehouseID: wantW, QtySalable: database.SeedQty(wantP, wantW), Version: version}
		if r != want {
			t.Fatalf("row %d = %+v, want %+v", i, r, want)
		}
	}
}

func seededRow(product, warehouse int64, version uint64, active bool) domain.StockWithWarehouse {
	return domain.StockWithWarehouse{
		Stock: domain.StockRow{ProductID: product, WarehouseID: warehouse, QtySalable: database.SeedQty(product, warehouse), Version: version},
		Warehouse: domain.Warehouse{
			ID: warehouse, Code: database.WarehouseCode(warehouse, seedWarehouses),
			Name: fmt.Sprintf("Warehouse %d", warehouse), Active: active, Version: version,
		},
		HasWarehouse: true,
	}
}

func sortRows(rows []domain.StockWithWarehouse) {
	slices.SortFunc(rows, func(a, b domain.StockWithWarehouse) int {
		return cmp.Or(cmp.Compare(a.Stock.ProductID, b.Stock.ProductID), cmp.Compare(a.Stock.WarehouseID, b.Stock.WarehouseID))
	})
}

func stockOf(t *testing.T, repo *gormrepo.Repository, product int64) []domain.StockWithWarehouse {
	t.Helper()
	rows, err := repo.StockByProducts(context.Background(), []int64{product})
	if err != nil {
		t.Fatal(err)
	}
	sortRows(rows)
	return rows
}

func warehouseVersion(t *testing.T, repo *gormrepo.Repository, id int64) uint64 {
	t.Helper()
	ws, err := repo.Warehouses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID == id {
			return w.Version
		}
	}
	t.Fatalf("warehouse %d missing", id)
	return 0
}

func allStock(t *testing.T, db *gorm.DB) []domain.StockRow {
	t.Helper()
	rows, err := db.Raw(`SELECT product_id, warehouse_id, qty_salable, version FROM stock_items ORDER BY product_id, warehouse_id`).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []domain.StockRow
	for rows.Next() {
		var r domain.StockRow
		if err := rows.Scan(&r.ProductID, &r.WarehouseID, &r.QtySalable, &r.Version); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func updatedAt(t *testing.T, db *gorm.DB, table, keyColumn string, key int64) time.Time {
	t.Helper()
	var ts time.Time
	if err := db.Raw("SELECT updated_at FROM "+table+" WHERE "+keyColumn+" = ?", key).Row().Scan(&ts); err != nil {
		t.Fatal(err)
	}
	return ts.UTC()
}

// countQueries counts the statements gorm runs through Raw(...).Rows(),
// the path every read of the repository takes.
func countQueries(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	if err := db.Callback().Row().After("gorm:row").Register("contract:count", func(*gorm.DB) { n.Add(1) }); err != nil {
		t.Fatal(err)
	}
	return &n
}

func columnsOf(t *testing.T, db *gorm.DB, table string) []column {
	t.Helper()
	var cols []column
	if database.Dialect(db) == database.DriverMySQL {
		rows, err := db.Raw(`SELECT column_name, is_nullable FROM information_schema.columns
			WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, table).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, nullable string
			if err := rows.Scan(&name, &nullable); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, column{name: name, notNull: nullable == "NO"})
		}
		return cols
	}
	rows, err := db.Raw(`SELECT name, "notnull" FROM pragma_table_info(?) ORDER BY cid`, table).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var notNull int
		if err := rows.Scan(&name, &notNull); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, column{name: name, notNull: notNull == 1})
	}
	return cols
}

func primaryKeyOf(t *testing.T, db *gorm.DB, table string) []string {
	t.Helper()
	var cols []string
	q := `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`
	if database.Dialect(db) == database.DriverMySQL {
		q = `SELECT column_name FROM information_schema.key_column_usage
			WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position`
	}
	if err := db.Raw(q, table).Scan(&cols).Error; err != nil {
		t.Fatal(err)
	}
	return cols
}

func indexExists(t *testing.T, db *gorm.DB, name string) bool {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stock_items' AND name = ?`
	if database.Dialect(db) == database.DriverMySQL {
		q = `SELECT COUNT(*) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = 'stock_items' AND index_name = ? AND column_name = 'warehouse_id'`
	}
	if err := db.Raw(q, name).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// checkMySQLTypes checks the column types docs/DESIGN.md §1 names, which SQLite
// does not enforce.
func checkMySQLTypes(t *testing.T, db *gorm.DB) {
	t.Helper()
	want := map[string]string{
		"warehouses.id":            "bigint",
		"warehouses.code":          "varchar(32)",
		"warehouses.name":          "varchar(255)",
		"warehouses.is_active":     "tinyint(1)",
		"warehouses.version":       "bigint unsigned",
		"warehouses.updated_at":    "datetime(6)",
		"stock_items.product_id":   "bigint",
		"stock_items.warehouse_id": "bigint",
		"stock_items.qty_salable":  "int",
		"stock_items.version":      "bigint unsigned",
		"stock_items.updated_at":   "datetime(6)",
	}
	rows, err := db.Raw(`SELECT table_name, column_name, column_type FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name IN ('warehouses', 'stock_items')`).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			t.Fatal(err)
		}
		// MariaDB and MySQL 5.7 print display widths (bigint(20)); MySQL 8
		// does not. Drop them except where they carry meaning.
		typ = strings.NewReplacer("bigint(20)", "bigint", "int(11)", "int").Replace(typ)
		if w := want[table+"."+col]; typ != w {
			t.Errorf("%s.%s is %q, want %q", table, col, typ, w)
		}
	}
	var unique int
	if err := db.Raw(`SELECT COUNT(*) FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND table_name = 'warehouses' AND column_name = 'code' AND non_unique = 0`).Scan(&unique).Error; err != nil {
		t.Fatal(err)
	}
	if unique != 1 {
		t.Error("warehouses.code has no unique index")
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}
