package gormrepo

import (
	"strconv"
	"strings"

	"github.com/gintoki/gintoki/domain"
)

// queries are the read statements of one schema mapping, built once when
// the repository is made, so a read costs what it did when they were
// constants. Every name comes from a mapping that passed Validate (plain
// identifiers), and is backquoted all the same: MySQL and SQLite both read
// backquotes as identifier quotes, and a column named like a keyword
// (`code`, `version`) stays a column.
type queries struct {
	stockByProducts string
	// warehouses is "" when the mapping has no warehouses table.
	warehouses      string
	productIDsAfter string

	salable domain.Salable
	// What the statements select besides the keys and the first salable
	// column; an unmapped column is not selected and reads as its zero
	// value (Active: true).
	minus, stockVersion       bool
	joined                    bool
	name, active, whseVersion bool
}

func quote(name string) string { return "`" + name + "`" }

func buildQueries(m domain.Mapping) queries {
	st := m.Stock
	q := queries{salable: st.Salable, minus: st.Salable.Minus != "", stockVersion: st.Version != ""}
	cols := []string{"s." + quote(st.Product), "s." + quote(st.Warehouse), "s." + quote(st.Salable.Column)}
	if q.minus {
		cols = append(cols, "s."+quote(st.Salable.Minus))
	}
	if q.stockVersion {
		cols = append(cols, "s."+quote(st.Version))
	}
	from := quote(st.Table) + " s"
	if w := m.Warehouses; w != nil {
		q.joined, q.name, q.active, q.whseVersion = true, w.Name != "", w.Active != "", w.Version != ""
		// The LEFT JOIN keeps stock rows whose warehouse is missing and
		// marks them (id IS NOT NULL); COALESCE lets every column scan into
		// a plain Go value.
		cols = append(cols, "w."+quote(w.ID)+" IS NOT NULL", "COALESCE(w."+quote(w.Code)+", '')")
		cols = append(cols, q.warehouseColumns(w, "w.", true)...)
		from += " LEFT JOIN " + quote(w.Table) + " w ON w." + quote(w.ID) + " = s." + quote(st.Warehouse)
		q.warehouses = "SELECT " + strings.Join(append([]string{quote(w.ID), quote(w.Code)}, q.warehouseColumns(w, "", false)...), ", ") +
			" FROM " + quote(w.Table) + " ORDER BY " + quote(w.ID)
	}
	q.stockByProducts = "SELECT " + strings.Join(cols, ", ") + "\nFROM " + from + "\nWHERE s." + quote(st.Product) + " IN ?"
	// Keyset pagination: every page costs the same however deep it is, as
	// long as an index starts with the product column (the primary key
	// (product, warehouse) does).
	p := quote(st.Product)
	q.productIDsAfter = "SELECT DISTINCT " + p + " FROM " + quote(st.Table) + " WHERE " + p + " > ? ORDER BY " + p + " LIMIT ?"
	return q
}

// warehouseColumns are the optional columns of the warehouses table, in
// scan order. Active is compared with 0 so that BIT(1) and TINYINT values
// other than 0 and 1 read as booleans too.
func (q queries) warehouseColumns(w *domain.WarehouseMapping, prefix string, coalesce bool) []string {
	col := func(name, zero string) string {
		if coalesce {
			return "COALESCE(" + prefix + name + ", " + zero + ")"
		}
		return prefix + name
	}
	var cols []string
	if q.name {
		cols = append(cols, col(quote(w.Name), "''"))
	}
	if q.active {
		cols = append(cols, col(quote(w.Active)+" <> 0", "0"))
	}
	if q.whseVersion {
		cols = append(cols, col(quote(w.Version), "0"))
	}
	return cols
}

// stockScan receives one row of the stock query.
type stockScan struct {
	product, warehouse int64
	salable            [2]int64
	version            uint64
	has                bool
	w                  domain.Warehouse
}

// stockDest points at what the stock query selects, in its order.
func (q queries) stockDest(s *stockScan) []any {
	dest := []any{&s.product, &s.warehouse, &s.salable[0]}
	if q.minus {
		dest = append(dest, &s.salable[1])
	}
	if q.stockVersion {
		dest = append(dest, &s.version)
	}
	if q.joined {
		dest = append(dest, &s.has, &s.w.Code)
		dest = append(dest, q.warehouseDest(&s.w)...)
	}
	return dest
}

// warehouseDest points at the optional warehouse columns; an unmapped
// active column leaves w.Active true.
func (q queries) warehouseDest(w *domain.Warehouse) []any {
	var dest []any
	if q.name {
		dest = append(dest, &w.Name)
	}
	if q.active {
		dest = append(dest, &w.Active)
	} else {
		w.Active = true
	}
	if q.whseVersion {
		dest = append(dest, &w.Version)
	}
	return dest
}

// stockRow turns a scanned row into the domain's. The salable quantity is
// computed here, by the rule the change feed applies to an event's columns
// (domain.Salable.Of), so a read and an event of one row agree to the unit;
// in SQL a difference of UNSIGNED columns would also be an error on MySQL
// when it goes below zero.
func (q queries) stockRow(s *stockScan) domain.StockWithWarehouse {
	out := domain.StockWithWarehouse{Stock: domain.StockRow{
		ProductID: s.product, WarehouseID: s.warehouse,
		QtySalable: q.salable.Of(s.salable[0], s.salable[1]), Version: s.version,
	}}
	switch {
	case !q.joined:
		// No warehouses table: a warehouse is its id, always active.
		out.HasWarehouse = true
		out.Warehouse = domain.Warehouse{ID: s.warehouse, Code: strconv.FormatInt(s.warehouse, 10), Active: true}
	case s.has:
		out.HasWarehouse = true
		out.Warehouse = s.w
		out.Warehouse.ID = s.warehouse
	}
	return out
}
