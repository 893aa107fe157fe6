package database

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

const (
	tracerName = "github.com/gintoki/gintoki/infrastructure/database"
	spanKey    = "gintoki:otel_span"
	// maxStatementAttr keeps spans small: a 1000-id IN list would otherwise
	// put kilobytes of placeholders into every span.
	maxStatementAttr = 512
)

// tracing is a gorm plugin that wraps every statement in a client span, a
// child of whatever span the caller's context carries.
type tracing struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

func newTracing(tp trace.TracerProvider, driver string) *tracing {
	return &tracing{tracer: tp.Tracer(tracerName), system: attribute.String("db.system", driver)}
}

func (*tracing) Name() string { return "gintoki:otel" }

func (t *tracing) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	err := errors.Join(
		cb.Create().Before("gorm:create").Register("gintoki:otel_before_create", t.start("INSERT")),
		cb.Create().After("gorm:create").Register("gintoki:otel_after_create", t.end),
		cb.Query().Before("gorm:query").Register("gintoki:otel_before_query", t.start("SELECT")),
		cb.Query().After("gorm:query").Register("gintoki:otel_after_query", t.end),
		cb.Update().Before("gorm:update").Register("gintoki:otel_before_update", t.start("UPDATE")),
		cb.Update().After("gorm:update").Register("gintoki:otel_after_update", t.end),
		cb.Delete().Before("gorm:delete").Register("gintoki:otel_before_delete", t.start("DELETE")),
		cb.Delete().After("gorm:delete").Register("gintoki:otel_after_delete", t.end),
		// Raw(...).Rows() and Exec(...) run through these two.
		cb.Row().Before("gorm:row").Register("gintoki:otel_before_row", t.start("QUERY")),
		cb.Row().After("gorm:row").Register("gintoki:otel_after_row", t.end),
		cb.Raw().Before("gorm:raw").Register("gintoki:otel_before_raw", t.start("EXEC")),
		cb.Raw().After("gorm:raw").Register("gintoki:otel_after_raw", t.end),
	)
	if err != nil {
		return fmt.Errorf("register tracing callbacks: %w", err)
	}
	return nil
}

func (t *tracing) start(op string) func(*gorm.DB) {
	name := "db " + op
	operation := attribute.String("db.operation", op)
	return func(db *gorm.DB) {
		if db.Statement == nil || db.Statement.Context == nil {
			return
		}
		ctx, span := t.tracer.Start(db.Statement.Context, name,
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(t.system, operation))
		db.Statement.Context = ctx
		db.InstanceSet(spanKey, span)
	}
}

func (t *tracing) end(db *gorm.DB) {
	v, ok := db.InstanceGet(spanKey)
	if !ok {
		return
	}
	span, ok := v.(trace.Span)
	if !ok {
		return
	}
	defer span.End()
	if stmt := db.Statement.SQL.String(); stmt != "" {
		if len(stmt) > maxStatementAttr {
			stmt = stmt[:maxStatementAttr] + "..."
		}
		span.SetAttributes(attribute.String("db.statement", stmt))
	}
	if db.RowsAffected >= 0 {
		span.SetAttributes(attribute.Int64("db.rows_affected", db.RowsAffected))
	}
	if db.Error != nil && !errors.Is(db.Error, gorm.ErrRecordNotFound) {
		span.RecordError(db.Error)
		span.SetStatus(codes.Error, db.Error.Error())
	}
}
