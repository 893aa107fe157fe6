package debezium

import (
	"fmt"
	"math"

	"github.com/gintoki/gintoki/domain"
)

// Decoder decodes the change events of the tables a domain.Mapping names.
// The mapping is resolved once, into the column names each table's row
// images are matched against, so decoding costs the same whatever the names.
// A Decoder is immutable and safe for concurrent use.
type Decoder struct {
	stock, warehouses table
	hasWarehouses     bool
}

// NewDecoder prepares the decoder of a mapping's tables.
func NewDecoder(m domain.Mapping) (*Decoder, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("debezium decoder: %w", err)
	}
	return newDecoder(m), nil
}

// defaultDecoder decodes the project's own tables: the package functions.
var defaultDecoder = newDecoder(domain.DefaultMapping())

// DefaultDecoder decodes the project's own tables (the package functions).
func DefaultDecoder() *Decoder { return defaultDecoder }

func newDecoder(m domain.Mapping) *Decoder {
	d := &Decoder{stock: stockTable(m.Stock), hasWarehouses: m.Warehouses != nil}
	if w := m.Warehouses; w != nil {
		d.warehouses = warehouseTable(*w)
	} else {
		d.warehouses = table{event: "warehouses event", key: "warehouses key"}
	}
	return d
}

// role is what a column is to the cache; a column can be several things.
type role uint16

const (
	roleProduct role = 1 << iota
	roleWarehouse
	roleSalable
	roleMinus
	roleVersion
	roleID
	roleCode
	roleName
	roleActive
	// roleTimestamp is only checked: the project's own updated_at.
	roleTimestamp
)

// column is a member of a row image the decoder reads.
type column struct {
	name  string
	roles role
	next  uint8 // 1 + the index of the next column of the same name length, 0 for none
}

// columns are the members of a row image or key the decoder reads, indexed
// by name length: most members of an image are not read, and their length
// alone tells so.
type columns struct {
	list  []column
	byLen [maxName + 1]uint8 // 1 + the index of the first column of each name length
}

// maxName is the longest name a mapping can give (a MySQL identifier).
const maxName = 64

// table is a mapped table resolved for decoding: which members of its row
// images and keys are read, and the names errors give.
type table struct {
	event, key string // error subjects: "<table> event", "<table> key"
	cols, keys columns
	// The columns of the roles, for errors; "" when not mapped.
	product, warehouse, version, id, code, active string
	salable                                       domain.Salable
	// salableInt32: the salable column is an INT (the project's own
	// stock_items), so a value beyond int32 is no value of it.
	salableInt32 bool
}

func stockTable(s domain.StockMapping) table {
	t := table{event: s.Table + " event", key: s.Table + " key", product: s.Product, warehouse: s.Warehouse,
		version: s.Version, salable: s.Salable}
	t.cols.add(s.Product, roleProduct)
	t.cols.add(s.Warehouse, roleWarehouse)
	t.cols.add(s.Salable.Column, roleSalable)
	t.cols.add(s.Salable.Minus, roleMinus)
	t.cols.add(s.Version, roleVersion)
	t.keys.add(s.Product, roleProduct)
	t.keys.add(s.Warehouse, roleWarehouse)
	if own := domain.DefaultMapping().Stock; s == own {
		t.salableInt32 = true
		t.cols.add("updated_at", roleTimestamp)
	}
	return t
}

func warehouseTable(w domain.WarehouseMapping) table {
	t := table{event: w.Table + " event", key: w.Table + " key", id: w.ID, code: w.Code, active: w.Active,
		version: w.Version}
	t.cols.add(w.ID, roleID)
	t.cols.add(w.Code, roleCode)
	t.cols.add(w.Name, roleName)
	t.cols.add(w.Active, roleActive)
	t.cols.add(w.Version, roleVersion)
	t.keys.add(w.ID, roleID)
	if own := *domain.DefaultMapping().Warehouses; w == own {
		t.cols.add("updated_at", roleTimestamp)
	}
	return t
}

// add gives the named column a role; an unnamed role is not mapped. A name
// is one column whatever roles it has, so a member is read once.
func (cs *columns) add(name string, r role) {
	if name == "" || len(name) > maxName {
		return // Mapping.Validate refuses both
	}
	last := -1 // the last column of the length
	for i := cs.byLen[len(name)]; i != 0; i = cs.list[last].next {
		if last = int(i - 1); cs.list[last].name == name {
			cs.list[last].roles |= r
			return
		}
	}
	cs.list = append(cs.list, column{name: name, roles: r})
	if n := uint8(len(cs.list)); last < 0 {
		cs.byLen[len(name)] = n
	} else {
		cs.list[last].next = n
	}
}

// find returns the column a member name is, or nil.
func (cs *columns) find(name []byte) *column {
	if uint(len(name)) >= uint(len(cs.byLen)) {
		return nil
	}
	for i := cs.byLen[len(name)]; i != 0; {
		c := &cs.list[i-1]
		if string(name) == c.name {
			return c
		}
		i = c.next
	}
	return nil
}

// image is what a row image says of the mapped columns.
type image struct {
	product, warehouse, salable, minus, id integer
	version                                uint64
	code, name                             string
	hasCode, active, hasActive, hasVersion bool
	// A null code or active is wrong only where the row stays: a delete
	// needs neither.
	nullCode, nullActive bool
}

// reader reads a row image or key of one table into img.
type reader struct {
	cols *columns
	img  *image
}

func (r *reader) member(name, v []byte) (err error) {
	c := r.cols.find(name)
	switch {
	case c == nil:
		return nil
	case c.roles&(c.roles-1) == 0:
		return r.img.readAs(c.roles, c.name, v)
	}
	for roles := c.roles; roles != 0 && err == nil; roles &= roles - 1 {
		err = r.img.readAs(roles&-roles, c.name, v)
	}
	return err
}

func (img *image) readAs(r role, name string, v []byte) (err error) {
	switch r {
	case roleProduct:
		return intField(name, v, &img.product)
	case roleWarehouse:
		return intField(name, v, &img.warehouse)
	case roleSalable:
		return intField(name, v, &img.salable)
	case roleMinus:
		return intField(name, v, &img.minus)
	case roleID:
		return intField(name, v, &img.id)
	case roleVersion:
		err = versionField(v, &img.version, &img.hasVersion)
		if e, ok := err.(*decodeError); ok {
			e.path = name
		}
	case roleTimestamp:
		return timestampField(name, v)
	case roleCode:
		img.code, err = textField(name, v, true)
		img.hasCode, img.nullCode = err == nil && !isNull(v), isNull(v)
	case roleName:
		img.name, err = textField(name, v, true)
	case roleActive:
		if img.nullActive = isNull(v); img.nullActive {
			return nil
		}
		img.active, err = parseBoolish(v)
		img.hasActive, err = err == nil, named(name, err)
	}
	return err
}

// stockRow maps a stock image to the domain, or names the bad column. The
// salable columns may be missing only in a delete: a cached row patched
// without them would serve 0.
func (t *table) stockRow(img *image, op domain.Op) (row domain.StockRow, column string, err error) {
	if row.ProductID, err = img.product.id(); err != nil {
		return row, t.product, err
	}
	if row.WarehouseID, err = img.warehouse.id(); err != nil {
		return row, t.warehouse, err
	}
	if t.version != "" && !img.hasVersion {
		return row, t.version, probMissing
	}
	if column, err = t.checkSalable(img.salable, t.salable.Column, op); err == nil && t.salable.Minus != "" {
		column, err = t.checkSalable(img.minus, t.salable.Minus, op)
	}
	if err != nil {
		return row, column, err
	}
	row.QtySalable, row.Version = t.salable.Of(img.salable.n, img.minus.n), img.version
	return row, "", nil
}

func (t *table) checkSalable(n integer, column string, op domain.Op) (string, error) {
	switch {
	case t.salableInt32 && (n.n < math.MinInt32 || n.n > math.MaxInt32):
		return column, probRange
	case op == domain.OpDelete:
	case n.null:
		return column, probNull
	case !n.set:
		return column, probMissing
	}
	return "", nil
}

// warehouseRow maps a warehouses image to the domain. A delete's image only
// has to say which row (id) and which version went away. Without an active
// column every warehouse is active.
func (t *table) warehouseRow(img *image, op domain.Op) (row domain.Warehouse, column string, err error) {
	if row.ID, err = img.id.id(); err != nil {
		return row, t.id, err
	}
	switch {
	case t.version != "" && !img.hasVersion:
		return row, t.version, probMissing
	case op == domain.OpDelete:
	case img.nullCode:
		return row, t.code, probNull
	case !img.hasCode:
		return row, t.code, probMissing
	case t.active != "" && img.nullActive:
		return row, t.active, probNull
	case t.active != "" && !img.hasActive:
		return row, t.active, probMissing
	}
	row.Code, row.Name, row.Active, row.Version = img.code, img.name, img.active || t.active == "", img.version
	return row, "", nil
}
