package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/domain"
)

// The example: a shop's own tables, salable = on hand - reserved,
// no version column anywhere.
const shopMapping = `
stock:
  table: inventory_levels
  product: sku_id               # integer column
  warehouse: location_id        # integer column
  salable: on_hand - reserved   # one column, or one column minus another
  version: ""                   # empty: order by the binlog
warehouses:
  table: locations
  id: id
  code: code
  active: enabled
  version: ""
`

func TestParseMappingOfAShopsTables(t *testing.T) {
	m, err := ParseMapping([]byte(shopMapping))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Mapping{
		Stock: domain.StockMapping{Table: "inventory_levels", Product: "sku_id", Warehouse: "location_id",
			Salable: domain.Salable{Column: "on_hand", Minus: "reserved"}},
		Warehouses: &domain.WarehouseMapping{Table: "locations", ID: "id", Code: "code", Active: "enabled"},
	}
	if m.Stock != want.Stock || *m.Warehouses != *want.Warehouses {
		t.Fatalf("got %+v %+v", m.Stock, *m.Warehouses)
	}
	if !m.StockOrder().Binlog || !m.WarehouseOrder().Binlog || !m.NeedsPositions() || m.IsDefault() {
		t.Fatal("a mapping without version columns is not in binlog order")
	}
	if got := m.Tables(); len(got) != 2 || got[0] != "inventory_levels" || got[1] != "locations" {
		t.Fatalf("tables %v", got)
	}
}

func TestParseMappingWithoutWarehousesAndWithAVersion(t *testing.T) {
	m, err := ParseMapping([]byte("stock: {table: s, product: p, warehouse: w, salable: q, version: v}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Warehouses != nil || m.StockOrder().Binlog || m.NeedsPositions() || m.Stock.Salable.Minus != "" {
		t.Fatalf("got %+v", m)
	}
}

// A mapping that cannot be right says what is wrong, naming the key.
func TestBadMappingsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "empty"},
		{"warehouses: {table: w, id: id, code: code}", "no stock section"},
		{"stock: {table: s, product: p, warehouse: w}", "stock.salable is required"},
		{"stock: {table: s, product: p, warehouse: w, salable: a -}", "nothing after the minus"},
		{"stock: {table: s, product: p, warehouse: w, salable: a + b}", "is not a column name"},
		{"stock: {table: s, product: p, salable: q}", "stock.warehouse is required"},
		{"stock: {table: s, product: p, warehouse: p, salable: q}", "both \"p\""},
		{"stock: {table: s, product: p, warehouse: w, salable: p}", "key column"},
		{"stock: {table: s, product: p, warehouse: w, salable: q - q}", "from itself"},
		{"stock: {table: 's; DROP', product: p, warehouse: w, salable: q}", "not a plain table or column name"},
		{"stock: {table: s, product: p, warehouse: w, salable: q, versoin: v}", "versoin"},
		{"stock: {table: s, product: p, warehouse: w, salable: q}\nwarehouses: {table: s, id: id, code: c}", "both table"},
		{"stock: {table: s, product: p, warehouse: w, salable: q}\nwarehouses: {table: l, id: id}", "warehouses.code is required"},
		{"stock: [1, 2]", "cannot unmarshal"},
	} {
		_, err := ParseMapping([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSchemaFlagLoadsTheFileOrDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(path, []byte(shopMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		mapped  bool
		wantErr string
	}{
		{nil, nil, false, ""},
		{[]string{"--schema", path}, nil, true, ""},
		{nil, map[string]string{"GINTOKI_SCHEMA": path}, true, ""},
		{[]string{"--schema", path + ".missing"}, nil, false, "--schema: read schema mapping"},
	} {
		var sc Schema
		s := NewSet("test", "")
		sc.Register(s)
		err := s.Parse(tc.args, func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if sc.Mapped() != tc.mapped || sc.Mapping.IsDefault() == tc.mapped {
			t.Fatalf("%v %v: mapped %v default %v", tc.args, tc.env, sc.Mapped(), sc.Mapping.IsDefault())
		}
	}
}
