package domain

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Mapping names the tables and columns the cache is built from: a shop's
// own inventory tables, whatever they are called (the schema mapping file,
// --schema). DefaultMapping is the project's own tables.
type Mapping struct {
	Stock StockMapping
	// Warehouses is nil when there is no warehouses table: a warehouse's
	// code is then its id, and every warehouse is active.
	Warehouses *WarehouseMapping
}

// StockMapping maps the stock table: one row per product and warehouse.
type StockMapping struct {
	Table     string
	Product   string // integer column
	Warehouse string // integer column
	Salable   Salable
	// Version is a column that grows with every write of a row and never
	// repeats for a key; "" orders changes by the binlog (domain.Order).
	Version string
}

// Salable is how much can be sold: one column, or one column minus
// another (on hand - reserved).
type Salable struct {
	Column string
	Minus  string // "" for a single column
}

// Columns are the columns the expression reads.
func (s Salable) Columns() []string {
	if s.Minus == "" {
		return []string{s.Column}
	}
	return []string{s.Column, s.Minus}
}

func (s Salable) String() string {
	if s.Minus == "" {
		return s.Column
	}
	return s.Column + " - " + s.Minus
}

// Of computes the salable quantity from the column values (in the order of
// Columns). A result outside int32 saturates: stock counts that large are
// not real, and an answer must still be given.
func (s Salable) Of(vals ...int64) int32 {
	n := vals[0]
	if s.Minus != "" {
		m := vals[1]
		// Subtracting int64s near their limits would wrap and flip the
		// sign; the true difference is then far outside int32 anyway.
		switch {
		case m < 0 && n > math.MaxInt64+m:
			return math.MaxInt32
		case m > 0 && n < math.MinInt64+m:
			return math.MinInt32
		}
		n -= m
	}
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}

// WarehouseMapping maps the warehouses table.
type WarehouseMapping struct {
	Table string
	ID    string // integer column, the key stock rows point at
	Code  string // text column, the answer's warehouse_code
	// Active is a boolean (TINYINT(1)) column; "" makes every warehouse
	// active.
	Active string
	// Name is read and ignored by the answers (the default tables have
	// one); "" when there is none.
	Name string
	// Version: as StockMapping.Version.
	Version string
}

// DefaultMapping is the project's own tables, as `gintoki migrate` makes
// them.
func DefaultMapping() Mapping {
	return Mapping{
		Stock: StockMapping{Table: "stock_items", Product: "product_id", Warehouse: "warehouse_id",
			Salable: Salable{Column: "qty_salable"}, Version: "version"},
		Warehouses: &WarehouseMapping{Table: "warehouses", ID: "id", Code: "code", Active: "is_active",
			Name: "name", Version: "version"},
	}
}

// IsDefault reports whether m is the project's own tables.
func (m Mapping) IsDefault() bool {
	d := DefaultMapping()
	return m.Stock == d.Stock && m.Warehouses != nil && *m.Warehouses == *d.Warehouses
}

// StockOrder and WarehouseOrder are the orders of each table's changes.
func (m Mapping) StockOrder() Order { return Order{Binlog: m.Stock.Version == ""} }

// WarehouseOrder: see StockOrder; version order when there is no table.
func (m Mapping) WarehouseOrder() Order {
	return Order{Binlog: m.Warehouses != nil && m.Warehouses.Version == ""}
}

// NeedsPositions reports whether some table is ordered by the binlog: the
// database must then say its replication position (GTIDs).
func (m Mapping) NeedsPositions() bool {
	return m.StockOrder().Binlog || m.WarehouseOrder().Binlog
}

// Tables are the mapped tables, the stock table first.
func (m Mapping) Tables() []string {
	if m.Warehouses == nil {
		return []string{m.Stock.Table}
	}
	return []string{m.Stock.Table, m.Warehouses.Table}
}

// identifier is what a mapped name may be: a plain MySQL identifier. Quoted
// names with other characters are not accepted, which keeps every name safe
// to put between backquotes.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// ParseSalable reads "column" or "column - column".
func ParseSalable(expr string) (Salable, error) {
	a, b, minus := strings.Cut(expr, "-")
	s := Salable{Column: strings.TrimSpace(a)}
	if minus {
		s.Minus = strings.TrimSpace(b)
		if s.Minus == "" {
			return Salable{}, fmt.Errorf("salable %q: nothing after the minus; write a column, or one column minus another", expr)
		}
	}
	for _, c := range s.Columns() {
		if !identifier.MatchString(c) {
			return Salable{}, fmt.Errorf("salable %q: %q is not a column name; write a column, or one column minus another (on_hand - reserved)", expr, c)
		}
	}
	return s, nil
}

// Validate checks the mapping on its own (names, no column used twice for
// different things); the database check is the repository's.
func (m Mapping) Validate() error {
	st := m.Stock
	named := []struct{ key, value string }{
		{"stock.table", st.Table}, {"stock.product", st.Product}, {"stock.warehouse", st.Warehouse},
	}
	optional := []struct{ key, value string }{{"stock.version", st.Version}}
	for _, c := range st.Salable.Columns() {
		named = append(named, struct{ key, value string }{"stock.salable", c})
	}
	if w := m.Warehouses; w != nil {
		named = append(named, []struct{ key, value string }{
			{"warehouses.table", w.Table}, {"warehouses.id", w.ID}, {"warehouses.code", w.Code}}...)
		optional = append(optional, []struct{ key, value string }{
			{"warehouses.active", w.Active}, {"warehouses.name", w.Name}, {"warehouses.version", w.Version}}...)
	}
	for _, n := range named {
		if n.value == "" {
			return fmt.Errorf("schema mapping: %s is required", n.key)
		}
		if !identifier.MatchString(n.value) {
			return fmt.Errorf("schema mapping: %s %q is not a plain table or column name (letters, digits, _ and $)", n.key, n.value)
		}
	}
	for _, n := range optional {
		if n.value != "" && !identifier.MatchString(n.value) {
			return fmt.Errorf("schema mapping: %s %q is not a plain column name (letters, digits, _ and $)", n.key, n.value)
		}
	}
	if st.Product == st.Warehouse {
		return fmt.Errorf("schema mapping: stock.product and stock.warehouse are both %q", st.Product)
	}
	for _, c := range append(st.Salable.Columns(), st.Version) {
		if c != "" && (c == st.Product || c == st.Warehouse) {
			return fmt.Errorf("schema mapping: column %q of %s is a key column and cannot be salable or version", c, st.Table)
		}
	}
	if st.Salable.Minus == st.Salable.Column {
		return fmt.Errorf("schema mapping: stock.salable subtracts %q from itself", st.Salable.Column)
	}
	if w := m.Warehouses; w != nil && w.Table == st.Table {
		return fmt.Errorf("schema mapping: stock and warehouses are both table %q", st.Table)
	}
	return nil
}
