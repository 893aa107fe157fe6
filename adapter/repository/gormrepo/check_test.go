package gormrepo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// checkCase is a shop's tables (the issue's, unless ddl says otherwise)
// and a change to the mapping. want are the parts of the refusal;
// none: the check accepts it (on SQLite it then refuses binlog order).
type checkCase struct {
	name      string
	ddl       []string
	change    func(m *domain.Mapping)
	want      []string
	mysqlOnly bool
}

var checkCases = []checkCase{
	{name: "the issue's shop"},
	{name: "stock key in the other order",
		ddl: []string{shopLocations, "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, PRIMARY KEY (location_id, sku_id))"}},
	{name: "active as BIT(1)",
		ddl: []string{"CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL, enabled BIT(1) NOT NULL)", shopLevels}},
	{name: "missing stock table", change: func(m *domain.Mapping) { m.Stock.Table = "inventory_level" },
		want: []string{"stock.table: there is no table inventory_level"}},
	{name: "missing warehouses table", change: func(m *domain.Mapping) { m.Warehouses.Table = "location" },
		want: []string{"warehouses.table: there is no table location"}},
	{name: "missing column", change: func(m *domain.Mapping) { m.Stock.Salable.Minus = "reservd" },
		want: []string{"stock.salable: table inventory_levels has no column reservd", "on_hand, reserved"}},
	{name: "missing active column", change: func(m *domain.Mapping) { m.Warehouses.Active = "is_enabled" },
		want: []string{"warehouses.active: table locations has no column is_enabled"}},
	{name: "salable not an integer",
		ddl:  []string{shopLocations, "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand VARCHAR(10) NOT NULL, reserved INT NOT NULL, PRIMARY KEY (sku_id, location_id))"},
		want: []string{"stock.salable: column inventory_levels.on_hand is ", "it must be an integer type"}},
	{name: "product not an integer",
		ddl:  []string{shopLocations, "CREATE TABLE inventory_levels (sku_id VARCHAR(20) NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, PRIMARY KEY (sku_id, location_id))"},
		want: []string{"stock.product: column inventory_levels.sku_id", "integer type"}},
	{name: "a timestamp as version", change: func(m *domain.Mapping) { m.Stock.Version = "updated_at" },
		want: []string{"stock.version: column inventory_levels.updated_at", "integer type"}},
	{name: "code not a string",
		ddl:  []string{"CREATE TABLE locations (id INT PRIMARY KEY, code INT NOT NULL, enabled TINYINT(1) NOT NULL)", shopLevels},
		want: []string{"warehouses.code: column locations.code", "a string type"}},
	{name: "active not a boolean",
		ddl:  []string{"CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL, enabled VARCHAR(1) NOT NULL)", shopLevels},
		want: []string{"warehouses.active: column locations.enabled", "TINYINT(1), BOOLEAN or BIT(1)"}},
	{name: "active a wide BIT", mysqlOnly: true,
		ddl:  []string{"CREATE TABLE locations (id INT PRIMARY KEY, code VARCHAR(16) NOT NULL, enabled BIT(8) NOT NULL)", shopLevels},
		want: []string{"warehouses.active: column locations.enabled is bit(8)"}},
	{name: "a column that allows NULL",
		ddl:  []string{shopLocations, "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT, PRIMARY KEY (sku_id, location_id))"},
		want: []string{"stock.salable: column inventory_levels.reserved allows NULL", "NOT NULL"}},
	{name: "surrogate key",
		ddl: []string{shopLocations, "CREATE TABLE inventory_levels (id BIGINT NOT NULL PRIMARY KEY, sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, UNIQUE (sku_id, location_id))"},
		want: []string{"stock.table: inventory_levels has the primary key (id); it must be exactly (sku_id, location_id)",
			"change events are keyed by the primary key", "an UPDATE can move a row to another product or warehouse",
			"A unique key on (sku_id, location_id) is not enough", "a view", "make (sku_id, location_id) the primary key"}},
	{name: "no primary key",
		ddl:  []string{shopLocations, "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL)"},
		want: []string{"inventory_levels has no primary key; it must be exactly (sku_id, location_id)"}},
	{name: "stock key with a third column",
		ddl:  []string{shopLocations, "CREATE TABLE inventory_levels (sku_id BIGINT NOT NULL, location_id INT NOT NULL, lot INT NOT NULL, on_hand INT NOT NULL, reserved INT NOT NULL, PRIMARY KEY (sku_id, location_id, lot))"},
		want: []string{"has the primary key (sku_id, location_id, lot)"}},
	{name: "warehouses keyed by code",
		ddl:  []string{"CREATE TABLE locations (id INT NOT NULL UNIQUE, code VARCHAR(16) NOT NULL PRIMARY KEY, enabled TINYINT(1) NOT NULL)", shopLevels},
		want: []string{"warehouses.table: locations has the primary key (code); it must be exactly (id)"}},
	{name: "a view",
		ddl:    []string{shopLocations, shopLevels, "CREATE VIEW levels_view AS SELECT * FROM inventory_levels"},
		change: func(m *domain.Mapping) { m.Stock.Table = "levels_view" },
		want:   []string{"stock.table: levels_view is a view", "map the table itself"}},
}

func TestCheckMapping_MySQL(t *testing.T) {
	runCheckCases(t, false, func(t *testing.T) *gorm.DB { return dbtest.MySQL(t) })
}

func TestCheckMapping_SQLite(t *testing.T) {
	runCheckCases(t, true, func(t *testing.T) *gorm.DB { return dbtest.SQLite(t) })
}

func runCheckCases(t *testing.T, sqlite bool, newDB func(*testing.T) *gorm.DB) {
	for _, tc := range checkCases {
		if tc.mysqlOnly && sqlite {
			continue // not a skip: CI counts those as integration tests that did not run
		}
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			ddl := tc.ddl
			if ddl == nil {
				ddl = []string{shopLocations, shopLevels}
			}
			execAll(t, db, ddl...)
			m := shopMapping()
			if tc.change != nil {
				tc.change(&m)
			}
			want := tc.want
			if want == nil && sqlite {
				want = []string{"SQLite keeps no binlog"}
			}
			err := gormrepo.CheckMapping(context.Background(), db, m)
			checkRefusal(t, err, want)
		})
	}
}

func checkRefusal(t *testing.T, err error, want []string) {
	t.Helper()
	t.Log(err) // the message a user reads, for review with -v
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want a refusal saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("refusal takes more than one line: %q", err)
	}
	// A refusal is the mapping's, which asking again does not change; the
	// relay stops for good on one, and names a missing table as such.
	var mismatch *gormrepo.MismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("refusal %q is not a *MismatchError", err)
	}
	if missing := strings.Contains(err.Error(), "there is no table"); mismatch.MissingTable != missing {
		t.Errorf("refusal %q: MissingTable %v", err, mismatch.MissingTable)
	}
}

// A database that cannot be asked is not a mapping that does not fit: the
// relay retries the one and stops for good on the other.
func TestCheckTellsAFailedDatabaseFromAMismatch(t *testing.T) {
	db := dbtest.SQLite(t)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	err = gormrepo.CheckMapping(context.Background(), db, shopMapping())
	var mismatch *gormrepo.MismatchError
	if err == nil || errors.As(err, &mismatch) {
		t.Fatalf("a closed database: %v (a *MismatchError: %v); want a database error", err, mismatch != nil)
	}
}

// Without version columns changes are ordered by GTIDs, which SQLite does
// not have; with them, SQLite will do.
func TestCheckRefusesBinlogOrderOnSQLite(t *testing.T) {
	db := dbtest.SQLite(t)
	execAll(t, db, shopLocations, shopLevels,
		"ALTER TABLE inventory_levels ADD COLUMN rev BIGINT NOT NULL DEFAULT 0",
		"ALTER TABLE locations ADD COLUMN rev BIGINT NOT NULL DEFAULT 0")
	ctx := context.Background()
	m := shopMapping()
	checkRefusal(t, gormrepo.CheckMapping(ctx, db, m), []string{
		"schema mapping: stock.version and warehouses.version are empty, so the changes of inventory_levels and locations are ordered by the binlog's GTIDs",
		"SQLite keeps no binlog: add a version column to the mapping"})
	m.Stock.Version = "rev"
	checkRefusal(t, gormrepo.CheckMapping(ctx, db, m), []string{"warehouses.version is empty, so the changes of locations are"})
	m.Warehouses.Version = "rev"
	checkRefusal(t, gormrepo.CheckMapping(ctx, db, m), nil)
}

// MySQL gives GTID positions only with gtid_mode=ON; MariaDB always does.
func TestCheckRefusesBinlogOrderOnMySQLWithoutGTIDs(t *testing.T) {
	db := dbtest.MySQL(t)
	execAll(t, db, shopLocations, shopLevels)
	ctx := context.Background()
	fix := "add a version column to the mapping, or enable GTIDs: gtid_mode=ON, enforce_gtid_consistency=ON"
	for _, tc := range []struct {
		version, gtidMode string
		want              []string
	}{
		{"8.0.36", "OFF", []string{"this MySQL server (8.0.36) runs with gtid_mode=OFF: " + fix}},
		{"8.4.2", "ON_PERMISSIVE", []string{"gtid_mode=ON_PERMISSIVE: " + fix}},
		{"8.0.36", "ON", nil},
		{"10.11.19-MariaDB-0+deb12u1-log", "", nil},
	} {
		err := gormrepo.CheckMappingAs(ctx, db, shopMapping(), tc.version, tc.gtidMode)
		t.Run(tc.version+" "+tc.gtidMode, func(t *testing.T) { checkRefusal(t, err, tc.want) })
	}
	// With a version column for each table nothing is ordered by the
	// binlog, and GTIDs are not needed.
	execAll(t, db, "ALTER TABLE inventory_levels ADD COLUMN rev BIGINT UNSIGNED NOT NULL DEFAULT 0")
	m := shopMapping()
	m.Stock.Version, m.Warehouses = "rev", nil
	if err := gormrepo.CheckMappingAs(ctx, db, m, "8.0.36", "OFF"); err != nil {
		t.Errorf("versioned mapping on MySQL without GTIDs: %v", err)
	}
	// And the real server here, MariaDB, is asked for real.
	if err := gormrepo.CheckMapping(ctx, db, shopMapping()); err != nil {
		t.Errorf("MariaDB: %v", err)
	}
}

// The demo's and gintoki migrate's tables pass, on both databases.
func TestCheckAcceptsGintokisOwnTables(t *testing.T) {
	for name, db := range map[string]*gorm.DB{"sqlite": dbtest.SQLite(t), "mysql": dbtest.MySQL(t)} {
		if err := gormrepo.CheckMapping(context.Background(), db, domain.DefaultMapping()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
