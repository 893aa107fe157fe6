package gormrepo_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// The shop of issue 16: its own tables, salable = on_hand - reserved, no
// version column anywhere.
const (
	shopLocations = "CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL UNIQUE, enabled TINYINT(1) NOT NULL)"
	shopLevels    = "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, updated_at TIMESTAMP(3) NOT NULL, PRIMARY KEY (sku_id, location_id))"
)

func shopMapping() domain.Mapping {
	return domain.Mapping{
		Stock: domain.StockMapping{Table: "inventory_levels", Product: "sku_id", Warehouse: "location_id",
			Salable: domain.Salable{Column: "on_hand", Minus: "reserved"}},
		Warehouses: &domain.WarehouseMapping{Table: "locations", ID: "id", Code: "code", Active: "enabled"},
	}
}

// shopProducts stock one unit each in location 1, for paging: products
// shopPaged+1 .. shopPaged+shopProducts.
const shopPaged, shopProducts = 100, 25

func TestShopSchemaContract_MySQL(t *testing.T)  { runShopContract(t, dbtest.MySQL(t)) }
func TestShopSchemaContract_SQLite(t *testing.T) { runShopContract(t, dbtest.SQLite(t)) }

// runShopContract is what a repository over a shop's own tables reads. The
// database also holds gintoki's tables (dbtest migrates them), which must
// not be what is read.
func runShopContract(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	execAll(t, db, shopLocations, shopLevels)
	execAll(t, db,
		"INSERT INTO locations (id, code, enabled) VALUES (1, 'NYC', 1), (2, 'LA', 0), (3, 'SF', 1)",
		`INSERT INTO inventory_levels (sku_id, location_id, on_hand, reserved, updated_at) VALUES
			(1, 1, 10, 3, '2024-05-01 10:00:00.000'),
			(1, 2, 5, 0, '2024-05-01 10:00:00.000'),
			(1, 3, 2, 5, '2024-05-01 10:00:00.000'),
			(1, 9, 4, 1, '2024-05-01 10:00:00.000'),
			(2, 1, 2147483647, -2147483648, '2024-05-01 10:00:00.000'),
			(2, 3, -2147483648, 2147483647, '2024-05-01 10:00:00.000')`)
	for p := shopPaged + 1; p <= shopPaged+shopProducts; p++ {
		execAll(t, db, fmt.Sprintf("INSERT INTO inventory_levels VALUES (%d, 1, 1, 0, '2024-05-01 10:00:00.000')", p))
	}
	// gintoki's own table holds a product 1 too, with other numbers.
	if err := gormrepo.New(db, nil).UpsertStock(ctx, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 999}); err != nil {
		t.Fatal(err)
	}
	repo, err := gormrepo.NewMapped(db, nil, shopMapping())
	if err != nil {
		t.Fatal(err)
	}
	queries := countQueries(t, db)
	nyc := domain.Warehouse{ID: 1, Code: "NYC", Active: true}
	la := domain.Warehouse{ID: 2, Code: "LA"}
	sf := domain.Warehouse{ID: 3, Code: "SF", Active: true}

	t.Run("stock rows: salable is on_hand - reserved, version 0, locations joined", func(t *testing.T) {
		got, err := repo.StockByProducts(ctx, []int64{1, 2, 2, 404})
		if err != nil {
			t.Fatal(err)
		}
		sortRows(got)
		want := []domain.StockWithWarehouse{
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 7}, Warehouse: nyc, HasWarehouse: true},
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 2, QtySalable: 5}, Warehouse: la, HasWarehouse: true},
			// More reserved than on hand: served as it is, negative.
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 3, QtySalable: -3}, Warehouse: sf, HasWarehouse: true},
			// A location that does not exist.
			{Stock: domain.StockRow{ProductID: 1, WarehouseID: 9, QtySalable: 3}},
			// Differences beyond int32 saturate.
			{Stock: domain.StockRow{ProductID: 2, WarehouseID: 1, QtySalable: math.MaxInt32}, Warehouse: nyc, HasWarehouse: true},
			{Stock: domain.StockRow{ProductID: 2, WarehouseID: 3, QtySalable: math.MinInt32}, Warehouse: sf, HasWarehouse: true},
		}
		if !slices.Equal(got, want) {
			t.Errorf("StockByProducts(1, 2, 2, 404):\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("one query whatever the number of ids", func(t *testing.T) {
		for _, n := range []int{1, 3, 17} {
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = int64(shopPaged + n - i)
			}
			before := queries.Load()
			rows, err := repo.StockByProducts(ctx, ids)
			if err != nil || len(rows) != n {
				t.Fatalf("%d ids: %d rows, %v", n, len(rows), err)
			}
			if q := queries.Load() - before; q != 1 {
				t.Errorf("%d ids took %d queries", n, q)
			}
		}
	})

	t.Run("warehouses are the locations, inactive ones too", func(t *testing.T) {
		got, err := repo.Warehouses(ctx)
		if want := []domain.Warehouse{nyc, la, sf}; err != nil || !slices.Equal(got, want) {
			t.Errorf("Warehouses() = %+v, %v; want %+v", got, err, want)
		}
	})

	t.Run("product ids page over the mapped table", func(t *testing.T) {
		var all []int64
		after := int64(0)
		for {
			page, err := repo.ProductIDsAfter(ctx, after, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1]
		}
		want := []int64{1, 2}
		for p := shopPaged + 1; p <= shopPaged+shopProducts; p++ {
			want = append(want, int64(p))
		}
		if !slices.Equal(all, want) {
			t.Errorf("pages gave %v, want %v", all, want)
		}
	})

	t.Run("without a warehouses section a warehouse is its id, active", func(t *testing.T) {
		m := shopMapping()
		m.Warehouses = nil
		bare, err := gormrepo.NewMapped(db, nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := bare.StockByProducts(ctx, []int64{1})
		if err != nil {
			t.Fatal(err)
		}
		sortRows(got)
		var codes []string
		for _, r := range got {
			if !r.HasWarehouse || !r.Warehouse.Active || r.Warehouse.ID != r.Stock.WarehouseID || r.Warehouse.Name != "" {
				t.Errorf("row %+v", r)
			}
			codes = append(codes, r.Warehouse.Code)
		}
		if !slices.Equal(codes, []string{"1", "2", "3", "9"}) || got[2].Stock.QtySalable != -3 {
			t.Errorf("codes %v, rows %+v", codes, got)
		}
		before := queries.Load()
		if ws, err := bare.Warehouses(ctx); ws != nil || err != nil || queries.Load() != before {
			t.Errorf("Warehouses() = %v, %v after %d queries; want none and no query", ws, err, queries.Load()-before)
		}
	})

	t.Run("writes are refused", func(t *testing.T) {
		for name, err := range map[string]error{
			"UpsertStock":     repo.UpsertStock(ctx, domain.StockRow{ProductID: 1, WarehouseID: 1, QtySalable: 1}),
			"DeleteStock":     repo.DeleteStock(ctx, 1, 1),
			"UpsertWarehouse": repo.UpsertWarehouse(ctx, domain.Warehouse{ID: 1, Code: "X"}),
			"ChangeStockQty": func() error {
				_, _, _, err := repo.ChangeStockQty(ctx, 1, 1, 5)
				return err
			}(),
		} {
			if err == nil || !strings.Contains(err.Error(), "gintoki writes only its own tables") {
				t.Errorf("%s through a mapped repository: %v", name, err)
			}
		}
		if got := stockOf(t, gormrepo.New(db, nil), 1); len(got) != 1 || got[0].Stock.QtySalable != 999 {
			t.Errorf("gintoki's own row changed: %+v", got)
		}
	})

	t.Run("a bad mapping is refused before any query", func(t *testing.T) {
		m := shopMapping()
		m.Stock.Table = "inventory_levels`; DROP TABLE locations; --"
		if _, err := gormrepo.NewMapped(db, nil, m); err == nil || !strings.Contains(err.Error(), "stock.table") {
			t.Errorf("NewMapped with a quoted name: %v", err)
		}
	})
}

// A mapping with version columns, a single salable column wider than
// int32, BIT(1) for active, a name column, and names that are keywords
// (`key`, `order`): only backquotes make those columns.
func TestVersionedMappingContract_MySQL(t *testing.T)  { runVersionedContract(t, dbtest.MySQL(t)) }
func TestVersionedMappingContract_SQLite(t *testing.T) { runVersionedContract(t, dbtest.SQLite(t)) }

func runVersionedContract(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	execAll(t, db,
		"CREATE TABLE depots (depot_id BIGINT NOT NULL PRIMARY KEY, `key` VARCHAR(8) NOT NULL, label VARCHAR(40) NOT NULL, is_open BIT(1) NOT NULL, rev BIGINT UNSIGNED NOT NULL)",
		"CREATE TABLE levels (depot BIGINT NOT NULL, item BIGINT NOT NULL, qty BIGINT NOT NULL, `order` BIGINT UNSIGNED NOT NULL, PRIMARY KEY (depot, item))",
		"INSERT INTO depots VALUES (1, 'D1', 'Depot one', 1, 40), (2, 'D2', 'Depot two', 0, 41)",
		"INSERT INTO levels VALUES (1, 7, 12, 100), (2, 7, 5000000000, 101), (3, 7, 1, 102)",
	)
	m := domain.Mapping{
		Stock: domain.StockMapping{Table: "levels", Product: "item", Warehouse: "depot",
			Salable: domain.Salable{Column: "qty"}, Version: "order"},
		Warehouses: &domain.WarehouseMapping{Table: "depots", ID: "depot_id", Code: "key", Active: "is_open",
			Name: "label", Version: "rev"},
	}
	if err := gormrepo.CheckMapping(ctx, db, m); err != nil {
		t.Fatalf("check: %v", err)
	}
	repo, err := gormrepo.NewMapped(db, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	d1 := domain.Warehouse{ID: 1, Code: "D1", Name: "Depot one", Active: true, Version: 40}
	d2 := domain.Warehouse{ID: 2, Code: "D2", Name: "Depot two", Version: 41}
	got, err := repo.StockByProducts(ctx, []int64{7})
	if err != nil {
		t.Fatal(err)
	}
	sortRows(got)
	want := []domain.StockWithWarehouse{
		{Stock: domain.StockRow{ProductID: 7, WarehouseID: 1, QtySalable: 12, Version: 100}, Warehouse: d1, HasWarehouse: true},
		{Stock: domain.StockRow{ProductID: 7, WarehouseID: 2, QtySalable: math.MaxInt32, Version: 101}, Warehouse: d2, HasWarehouse: true},
		{Stock: domain.StockRow{ProductID: 7, WarehouseID: 3, QtySalable: 1, Version: 102}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("StockByProducts(7):\n got %+v\nwant %+v", got, want)
	}
	if ws, err := repo.Warehouses(ctx); err != nil || !slices.Equal(ws, []domain.Warehouse{d1, d2}) {
		t.Errorf("Warehouses() = %+v, %v", ws, err)
	}
	if ids, err := repo.ProductIDsAfter(ctx, 0, 10); err != nil || !slices.Equal(ids, []int64{7}) {
		t.Errorf("ProductIDsAfter = %v, %v", ids, err)
	}
}

func execAll(t *testing.T, db *gorm.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("%s (%s): %v", s, database.Dialect(db), err)
		}
	}
}
