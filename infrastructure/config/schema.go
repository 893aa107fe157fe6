package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/gintoki/gintoki/domain"
)

// Schema is the schema mapping: which tables and columns hold the stock
// and the warehouses (--schema FILE). Without a file it is the project's
// own tables.
type Schema struct {
	File    string
	Mapping domain.Mapping
}

// Register adds --schema.
func (sc *Schema) Register(s *Set) {
	s.String(&sc.File, "schema", "", "YAML file mapping your own stock and warehouse tables and columns (see the README's schema mapping section); empty: the tables of gintoki migrate")
	s.Check(func() error {
		sc.Mapping = domain.DefaultMapping()
		if sc.File == "" {
			return nil
		}
		m, err := LoadMapping(sc.File)
		if err != nil {
			return fmt.Errorf("--schema: %w", err)
		}
		sc.Mapping = m
		return nil
	})
}

// Mapped reports whether a mapping file was given.
func (sc Schema) Mapped() bool { return sc.File != "" }

// mappingFile is the file's shape. Every key is optional to the YAML
// decoder so that a missing one gets a message naming it (Validate).
type mappingFile struct {
	Stock *struct {
		Table     string  `yaml:"table"`
		Product   string  `yaml:"product"`
		Warehouse string  `yaml:"warehouse"`
		Salable   string  `yaml:"salable"`
		Version   *string `yaml:"version"`
	} `yaml:"stock"`
	Warehouses *struct {
		Table   string  `yaml:"table"`
		ID      string  `yaml:"id"`
		Code    string  `yaml:"code"`
		Active  *string `yaml:"active"`
		Version *string `yaml:"version"`
	} `yaml:"warehouses"`
}

// LoadMapping reads and checks a schema mapping file.
func LoadMapping(path string) (domain.Mapping, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return domain.Mapping{}, fmt.Errorf("read schema mapping: %w", err)
	}
	m, err := ParseMapping(raw)
	if err != nil {
		return domain.Mapping{}, fmt.Errorf("schema mapping %s: %w", path, err)
	}
	return m, nil
}

// ParseMapping reads a schema mapping from YAML; unknown keys are errors,
// so a misspelt one is not silently ignored.
func ParseMapping(raw []byte) (domain.Mapping, error) {
	var f mappingFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return domain.Mapping{}, errors.New("the file is empty; it needs a stock section")
		}
		return domain.Mapping{}, err
	}
	if f.Stock == nil {
		return domain.Mapping{}, errors.New("no stock section (stock: table, product, warehouse, salable, version)")
	}
	salable, err := domain.ParseSalable(f.Stock.Salable)
	if f.Stock.Salable == "" {
		err = errors.New("stock.salable is required (a column, or one column minus another)")
	}
	if err != nil {
		return domain.Mapping{}, err
	}
	m := domain.Mapping{Stock: domain.StockMapping{
		Table: f.Stock.Table, Product: f.Stock.Product, Warehouse: f.Stock.Warehouse,
		Salable: salable, Version: deref(f.Stock.Version),
	}}
	if w := f.Warehouses; w != nil {
		m.Warehouses = &domain.WarehouseMapping{Table: w.Table, ID: w.ID, Code: w.Code,
			Active: deref(w.Active), Version: deref(w.Version)}
	}
	if err := m.Validate(); err != nil {
		return domain.Mapping{}, err
	}
	return m, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// DefaultSchema is gintoki's own tables, for a process that takes no
// --schema (demo makes and fills its own database).
func DefaultSchema() Schema { return Schema{Mapping: domain.DefaultMapping()} }

// RefuseSchema adds --schema to a command that works on gintoki's own
// tables only (migrate, seed). A mapping given to it, by the flag or by a
// GINTOKI_SCHEMA shared with serve, is an error: ignored, it would let the
// command create and fill gintoki's tables in a shop's database.
func RefuseSchema(s *Set, command string) {
	var file string
	s.String(&file, "schema", "", "refused: "+command+" works on gintoki's own tables only, never on the tables a schema mapping names")
	s.Check(func() error {
		if file == "" {
			return nil
		}
		return fmt.Errorf("--schema %s: %s creates and fills gintoki's own tables (stock_items, warehouses); the tables of a schema mapping are the shop's own, and gintoki only reads them: run it without --schema (and without GINTOKI_SCHEMA)", file, command)
	})
}
