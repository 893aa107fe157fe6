// Package gormrepo reads and writes stock and warehouses through gorm. It is
// the database side of the read path (StockByProducts, Warehouses, Ping) and
// holds the small writers that tests and the change-feed tooling use.
package gormrepo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
)

const tracerName = "github.com/gintoki/gintoki/adapter/repository/gormrepo"

// Repository is the gorm-backed stock repository. It is safe for concurrent
// use.
type Repository struct {
	db     *gorm.DB
	tracer trace.Tracer
	system attribute.KeyValue
	q      queries
	// mapping is what the repository reads.
	mapping domain.Mapping
	// own: the mapping is gintoki's own tables, the only ones the writers
	// know.
	own bool

	// positionSQL reads how much of the replication stream the server has
	// applied; found on first use, "" where there is nothing to read
	// (SQLite, MySQL without GTIDs).
	positionOnce sync.Once
	positionSQL  string
}

// New returns a repository over gintoki's own tables (the default
// mapping). A nil tp disables tracing.
func New(db *gorm.DB, tp trace.TracerProvider) *Repository {
	return newRepository(db, tp, domain.DefaultMapping())
}

// NewMapped returns a repository that reads the tables and columns m names
// (the schema mapping). It does not look at the database: CheckMapping
// does, once, at start.
func NewMapped(db *gorm.DB, tp trace.TracerProvider, m domain.Mapping) (*Repository, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return newRepository(db, tp, m), nil
}

// CheckMapping checks the repository's mapping against the database (see
// the function CheckMapping), for a process that could not at start.
func (r *Repository) CheckMapping(ctx context.Context) error {
	return CheckMapping(ctx, r.db, r.mapping)
}

func newRepository(db *gorm.DB, tp trace.TracerProvider, m domain.Mapping) *Repository {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Repository{
		db:      db,
		tracer:  tp.Tracer(tracerName),
		system:  attribute.String("db.system", database.Dialect(db)),
		q:       buildQueries(m),
		own:     m.IsDefault(),
		mapping: m,
	}
}

// Position returns how much of the replication stream the database has
// applied, as GTIDs: MariaDB's @@gtid_current_pos (a replica's too), MySQL's
// @@global.gtid_executed when gtid_mode is ON. Read before a query, it is a
// lower bound of what the query sees. nil when the database has none.
func (r *Repository) Position(ctx context.Context) (_ domain.SourcePos, err error) {
	r.positionOnce.Do(func() { r.positionSQL = r.findPositionSQL(ctx) })
	if r.positionSQL == "" {
		return nil, nil
	}
	var raw string
	if err := r.db.WithContext(ctx).Raw(r.positionSQL).Row().Scan(&raw); err != nil {
		return nil, wrapErr(ctx, err, "read the replication position")
	}
	pos, err := domain.ParseSourcePos(raw)
	if err != nil {
		return nil, fmt.Errorf("read the replication position: %w", err)
	}
	return pos, nil
}

// findPositionSQL asks the server what it is. A failure to ask leaves the
// position off: it refines fills, and reads stay correct without it.
func (r *Repository) findPositionSQL(ctx context.Context) string {
	if database.Dialect(r.db) != database.DriverMySQL {
		return ""
	}
	sqlDB, err := r.db.DB()
	if err != nil {
		return ""
	}
	srv, err := mysqlCatalog{sqlDB}.server(ctx)
	if err != nil {
		return ""
	}
	query, _ := positionQuery(srv)
	return query
}

// StockByProducts returns every stock row of the given products joined with
// its warehouse, in one query and in no particular order. Unknown ids have
// no rows; repeated ids do not repeat rows.
func (r *Repository) StockByProducts(ctx context.Context, productIDs []int64) (_ []domain.StockWithWarehouse, err error) {
	if len(productIDs) == 0 {
		return nil, nil
	}
	ctx, span := r.start(ctx, "StockRepository.StockByProducts", "SELECT",
		attribute.Int("gintoki.product_ids.count", len(productIDs)))
	defer func() { endSpan(span, err) }()

	rows, err := r.db.WithContext(ctx).Raw(r.q.stockByProducts, padIDs(productIDs)).Rows()
	if err != nil {
		return nil, wrapErr(ctx, err, "load stock of %d products", len(productIDs))
	}
	defer rows.Close()

	out := make([]domain.StockWithWarehouse, 0, len(productIDs))
	var s stockScan
	dest := r.q.stockDest(&s)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, wrapErr(ctx, err, "scan stock of %d products", len(productIDs))
		}
		out = append(out, r.q.stockRow(&s))
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(ctx, err, "read stock of %d products", len(productIDs))
	}
	span.SetAttributes(attribute.Int("gintoki.rows", len(out)))
	return out, nil
}

// Warehouses returns the whole warehouse directory, ordered by id; none
// when the mapping has no warehouses table (a warehouse is then its id).
func (r *Repository) Warehouses(ctx context.Context) (_ []domain.Warehouse, err error) {
	if r.q.warehouses == "" {
		return nil, nil
	}
	ctx, span := r.start(ctx, "StockRepository.Warehouses", "SELECT")
	defer func() { endSpan(span, err) }()

	rows, err := r.db.WithContext(ctx).Raw(r.q.warehouses).Rows()
	if err != nil {
		return nil, wrapErr(ctx, err, "load warehouses")
	}
	defer rows.Close()

	var out []domain.Warehouse
	var w domain.Warehouse
	dest := append([]any{&w.ID, &w.Code}, r.q.warehouseDest(&w)...)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, wrapErr(ctx, err, "scan warehouses")
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(ctx, err, "read warehouses")
	}
	span.SetAttributes(attribute.Int("gintoki.rows", len(out)))
	return out, nil
}

// Ping checks that the database answers within ctx.
func (r *Repository) Ping(ctx context.Context) (err error) {
	// Only probes ping: their spans would bury the requests.
	ctx = telemetry.Untraced(ctx)
	ctx, span := r.start(ctx, "StockRepository.Ping", "PING")
	defer func() { endSpan(span, err) }()

	sqlDB, err := r.db.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return wrapErr(ctx, err, "ping database")
	}
	return nil
}

// padIDs pads ids to the next power of two (or multiple of 1024) by
// repeating the last id. The IN list then has one of a dozen lengths, so the
// prepared-statement cache holds a dozen statements instead of one per batch
// size; the repeats match nothing extra.
func padIDs(ids []int64) []int64 {
	const step = 1024
	n := 1
	for n < len(ids) && n < step {
		n *= 2
	}
	if len(ids) > step {
		n = (len(ids) + step - 1) / step * step
	}
	if n == len(ids) {
		return ids
	}
	padded := make([]int64, n)
	copy(padded, ids)
	last := ids[len(ids)-1]
	for i := len(ids); i < n; i++ {
		padded[i] = last
	}
	return padded
}

func (r *Repository) start(ctx context.Context, name, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return r.tracer.Start(ctx, name,
		// Internal: the statement spans below it (database.Open with a
		// tracer provider) are the client spans.
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(r.system, attribute.String("db.operation", op)),
		trace.WithAttributes(attrs...))
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// wrapErr adds what was being done to err. When ctx has ended, the error also
// wraps ctx.Err(): drivers report a cancelled query in their own words
// ("invalid connection", "interrupted"), and callers tell a deadline from a
// failure with errors.Is.
func wrapErr(ctx context.Context, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%s: %w (%w)", what, ctxErr, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
