package gormrepo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
)

// CheckMapping checks m against the database before anything reads through
// it: the tables exist and are tables, the columns exist with types the
// reads can use and without NULLs, each table's primary key is what change
// events are keyed by, and a table without a version column is on a
// database that gives GTID positions. The first problem found is returned
// as one line that says what to change, as a *MismatchError.
func CheckMapping(ctx context.Context, db *gorm.DB, m domain.Mapping) error {
	if err := m.Validate(); err != nil {
		return &MismatchError{err: err}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("check the schema mapping: %w", err)
	}
	var cat catalog = mysqlCatalog{sqlDB}
	if database.Dialect(db) == database.DriverSQLite {
		cat = sqliteCatalog{sqlDB}
	}
	return checkMapping(ctx, cat, m)
}

// MismatchError is a mapping the database cannot serve as it is (a table
// or column missing, a wrong type or key, binlog order without GTIDs): its
// message says what to change, and asking again will not change the
// answer. CheckMapping's other errors are the database's: unreachable, a
// query refused.
type MismatchError struct {
	// MissingTable: a mapped table does not exist.
	MissingTable bool
	err          error
}

func (e *MismatchError) Error() string { return e.err.Error() }
func (e *MismatchError) Unwrap() error { return e.err }

func mismatchf(format string, args ...any) error {
	return &MismatchError{err: fmt.Errorf(format, args...)}
}

// catalog is what the check asks of a database. Its queries go straight to
// the pool: through gorm each would stay in the prepared-statement cache for
// the life of the process, to be run once.
type catalog interface {
	// table describes a table or view; nil when there is none.
	table(ctx context.Context, name string) (*tableInfo, error)
	server(ctx context.Context) (serverInfo, error)
}

type tableInfo struct {
	view       bool
	columns    []columnInfo // in table order
	primaryKey []string     // in key order
}

type columnInfo struct {
	name     string
	typ      string // as declared: int(11), varchar(16), tinyint(1)
	kinds    kind   // what the type can serve as
	nullable bool
}

// kind is what a column type can serve as, a bit each.
type kind uint8

const (
	integer kind = 1 << iota
	text
	boolean
)

func (k kind) String() string {
	switch k {
	case integer:
		return "an integer type (TINYINT to BIGINT)"
	case text:
		return "a string type (CHAR, VARCHAR or TEXT)"
	}
	return "TINYINT(1), BOOLEAN or BIT(1)"
}

// serverInfo names the database server, for its replication position.
type serverInfo struct {
	dialect  string
	version  string // @@version
	gtidMode string // MySQL's @@global.gtid_mode; "" elsewhere
}

// positionQuery is the statement that reads the server's replication
// position as GTIDs, or "" and why it has none.
func positionQuery(s serverInfo) (query, why string) {
	switch {
	case s.dialect == database.DriverSQLite:
		return "", "SQLite keeps no binlog"
	case strings.Contains(strings.ToLower(s.version), "mariadb"):
		return "SELECT @@gtid_current_pos", ""
	case strings.EqualFold(s.gtidMode, "ON"):
		return "SELECT @@global.gtid_executed", ""
	}
	return "", fmt.Sprintf("this MySQL server (%s) runs with gtid_mode=%s", s.version, s.gtidMode)
}

// role is one mapped column and what it must be.
type role struct {
	key, column string
	want        kind
}

func checkMapping(ctx context.Context, cat catalog, m domain.Mapping) error {
	st := m.Stock
	stock := []role{{"stock.product", st.Product, integer}, {"stock.warehouse", st.Warehouse, integer}}
	for _, c := range st.Salable.Columns() {
		stock = append(stock, role{"stock.salable", c, integer})
	}
	stock = appendOptional(stock, role{"stock.version", st.Version, integer})
	if err := checkTable(ctx, cat, "stock", st.Table, stock, []string{st.Product, st.Warehouse}); err != nil {
		return err
	}
	if w := m.Warehouses; w != nil {
		whs := []role{{"warehouses.id", w.ID, integer}, {"warehouses.code", w.Code, text}}
		whs = appendOptional(whs, role{"warehouses.name", w.Name, text},
			role{"warehouses.active", w.Active, boolean}, role{"warehouses.version", w.Version, integer})
		if err := checkTable(ctx, cat, "warehouses", w.Table, whs, []string{w.ID}); err != nil {
			return err
		}
	}
	return checkPositions(ctx, cat, m)
}

func appendOptional(roles []role, optional ...role) []role {
	for _, r := range optional {
		if r.column != "" {
			roles = append(roles, r)
		}
	}
	return roles
}

// checkTable checks one mapped table: section is its section of the file,
// key the primary key it must have.
func checkTable(ctx context.Context, cat catalog, section, name string, roles []role, key []string) error {
	t, err := cat.table(ctx, name)
	if err != nil {
		return fmt.Errorf("check table %s: %w", name, err)
	}
	switch {
	case t == nil:
		return &MismatchError{MissingTable: true, err: fmt.Errorf("schema mapping: %s.table: there is no table %s in the database", section, name)}
	case t.view:
		return mismatchf("schema mapping: %s.table: %s is a view; the binlog carries the changes of tables, not of views, so the cache would never hear of one: map the table itself", section, name)
	}
	for _, r := range roles {
		if err := t.checkColumn(name, r); err != nil {
			return err
		}
	}
	return t.checkKey(section, name, key)
}

func (t *tableInfo) checkColumn(table string, r role) error {
	i := slices.IndexFunc(t.columns, func(c columnInfo) bool { return strings.EqualFold(c.name, r.column) })
	if i < 0 {
		return mismatchf("schema mapping: %s: table %s has no column %s (its columns: %s)", r.key, table, r.column, strings.Join(t.columnNames(), ", "))
	}
	c := t.columns[i]
	if c.kinds&r.want == 0 {
		return mismatchf("schema mapping: %s: column %s.%s is %s; it must be %s", r.key, table, c.name, c.typ, r.want)
	}
	if c.nullable {
		return mismatchf("schema mapping: %s: column %s.%s allows NULL, which no answer can be made of: make it NOT NULL", r.key, table, c.name)
	}
	return nil
}

func (t *tableInfo) columnNames() []string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return names
}

// checkKey refuses a table whose primary key is not key (in any order).
// Change events are keyed by the primary key: keyed by anything else, a row
// can be moved to another product or warehouse by an UPDATE, and an event
// would not say which cached row it replaced.
func (t *tableInfo) checkKey(section, table string, key []string) error {
	got := lowerAll(t.primaryKey)
	slices.Sort(got)
	want := lowerAll(key)
	slices.Sort(want)
	if slices.Equal(got, want) {
		return nil
	}
	has := "has no primary key"
	if len(t.primaryKey) > 0 {
		has = "has the primary key (" + strings.Join(t.primaryKey, ", ") + ")"
	}
	cols := strings.Join(key, ", ")
	if section == "stock" {
		return mismatchf("schema mapping: stock.table: %s %s; it must be exactly (%s), in either order: change events are keyed by the primary key, and under any other key an UPDATE can move a row to another product or warehouse, which the cache cannot follow. A unique key on (%s) is not enough, and a view with that key is not captured by the binlog: make (%s) the primary key",
			table, has, cols, cols, cols)
	}
	return mismatchf("schema mapping: %s.table: %s %s; it must be exactly (%s): change events are keyed by the primary key, and stock rows name their warehouse by it", section, table, has, cols)
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// checkPositions refuses binlog order on a database that cannot say which
// transactions a read saw: the cache could then not tell an event from
// before a read from one after it.
func checkPositions(ctx context.Context, cat catalog, m domain.Mapping) error {
	if !m.NeedsPositions() {
		return nil
	}
	srv, err := cat.server(ctx)
	if err != nil {
		return fmt.Errorf("check the schema mapping: ask the server for its GTIDs: %w", err)
	}
	query, why := positionQuery(srv)
	if query != "" {
		return nil
	}
	var keys, tables []string
	if m.StockOrder().Binlog {
		keys, tables = append(keys, "stock.version"), append(tables, m.Stock.Table)
	}
	if m.WarehouseOrder().Binlog {
		keys, tables = append(keys, "warehouses.version"), append(tables, m.Warehouses.Table)
	}
	fix := "add a version column to the mapping, or enable GTIDs: gtid_mode=ON, enforce_gtid_consistency=ON"
	if srv.dialect == database.DriverSQLite {
		fix = "add a version column to the mapping (a column that grows with every write of a row)"
	}
	verb := "is"
	if len(keys) > 1 {
		verb = "are"
	}
	return mismatchf("schema mapping: %s %s empty, so the changes of %s are ordered by the binlog's GTIDs, but %s: %s",
		strings.Join(keys, " and "), verb, strings.Join(tables, " and "), why, fix)
}

type mysqlCatalog struct{ db *sql.DB }

func (c mysqlCatalog) table(ctx context.Context, name string) (*tableInfo, error) {
	var typ string
	err := c.db.QueryRowContext(ctx, `SELECT TABLE_TYPE FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, name).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t := &tableInfo{view: typ == "VIEW"}
	if t.columns, err = c.columns(ctx, name); err != nil {
		return nil, err
	}
	if t.primaryKey, err = c.primaryKey(ctx, name); err != nil {
		return nil, err
	}
	return t, nil
}

func (c mysqlCatalog) columns(ctx context.Context, table string) ([]columnInfo, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	var cols []columnInfo
	for rows.Next() {
		var c columnInfo
		var dataType, nullable string
		if err := rows.Scan(&c.name, &dataType, &c.typ, &nullable); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		c.kinds, c.nullable = mysqlKinds(strings.ToLower(dataType), strings.ToLower(c.typ)), nullable == "YES"
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	return cols, nil
}

func mysqlKinds(dataType, columnType string) kind {
	switch dataType {
	case "tinyint":
		return integer | boolean
	case "smallint", "mediumint", "int", "bigint":
		return integer
	case "bit":
		if columnType == "bit(1)" {
			return boolean
		}
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return text
	}
	return 0
}

func (c mysqlCatalog) primaryKey(ctx context.Context, table string) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, table)
	if err != nil {
		return nil, fmt.Errorf("read primary key: %w", err)
	}
	return scanStrings(rows, "read primary key")
}

func (c mysqlCatalog) server(ctx context.Context) (serverInfo, error) {
	s := serverInfo{dialect: database.DriverMySQL}
	if err := c.db.QueryRowContext(ctx, "SELECT @@version").Scan(&s.version); err != nil {
		return s, fmt.Errorf("read @@version: %w", err)
	}
	if strings.Contains(strings.ToLower(s.version), "mariadb") {
		return s, nil // MariaDB has no gtid_mode: its GTIDs are always on
	}
	if err := c.db.QueryRowContext(ctx, "SELECT @@global.gtid_mode").Scan(&s.gtidMode); err != nil {
		return s, fmt.Errorf("read @@global.gtid_mode: %w", err)
	}
	return s, nil
}

type sqliteCatalog struct{ db *sql.DB }

func (c sqliteCatalog) table(ctx context.Context, name string) (*tableInfo, error) {
	var typ string
	err := c.db.QueryRowContext(ctx, `SELECT type FROM sqlite_master
		WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`, name).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := c.db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, name)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	t := &tableInfo{view: typ == "view"}
	keyAt := map[int]string{} // pragma's pk is the place in the key, from 1
	for rows.Next() {
		var col columnInfo
		var notNull, pos int
		if err := rows.Scan(&col.name, &col.typ, &notNull, &pos); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		// A key column counts as NOT NULL as it does on MySQL; SQLite's
		// leniency there is a legacy quirk, not a schema anyone means.
		col.kinds, col.nullable = sqliteKinds(strings.ToUpper(col.typ)), notNull == 0 && pos == 0
		t.columns = append(t.columns, col)
		if pos > 0 {
			keyAt[pos] = col.name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	for i := 1; i <= len(keyAt); i++ {
		t.primaryKey = append(t.primaryKey, keyAt[i])
	}
	return t, nil
}

// sqliteKinds follows SQLite's own affinity rules (a declared type with INT
// holds integers; CHAR, CLOB or TEXT, strings), with the boolean type
// names MySQL accepts.
func sqliteKinds(declared string) kind {
	var k kind
	if strings.Contains(declared, "INT") {
		k |= integer
	}
	if strings.Contains(declared, "TINYINT") || strings.Contains(declared, "BOOL") || declared == "BIT" || declared == "BIT(1)" {
		k |= boolean
	}
	if strings.Contains(declared, "CHAR") || strings.Contains(declared, "CLOB") || strings.Contains(declared, "TEXT") {
		k |= text
	}
	return k
}

func (sqliteCatalog) server(context.Context) (serverInfo, error) {
	return serverInfo{dialect: database.DriverSQLite}, nil
}

func scanStrings(rows *sql.Rows, what string) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
