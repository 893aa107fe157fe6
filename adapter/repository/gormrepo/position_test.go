package gormrepo_test

import (
	"context"
	"slices"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
)

// On MariaDB the position read before a query covers every transaction
// committed before it, such as the one just made, and not one made after.
func TestPositionCoversWhatWasCommittedBefore(t *testing.T) {
	db := dbtest.MySQL(t)
	repo := gormrepo.New(db, nil)
	ctx := context.Background()
	committed := func(stmt string) domain.GTID {
		t.Helper()
		var raw string
		err := db.Connection(func(tx *gorm.DB) error {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
			return tx.Raw("SELECT @@last_gtid").Row().Scan(&raw)
		})
		if err != nil {
			t.Fatal(err)
		}
		g, ok := domain.ParseGTID(raw)
		if !ok {
			t.Fatalf("last gtid %q", raw)
		}
		return g
	}
	first := committed("INSERT INTO warehouses (id, code, name, is_active, version, updated_at) VALUES (1,'A','a',1,1,NOW(6))")
	pos, err := repo.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !pos.Covers(first) {
		t.Fatalf("position %v does not cover the transaction committed before it (%v)", pos, first)
	}
	later := committed("UPDATE warehouses SET version = 2 WHERE id = 1")
	if pos.Covers(later) {
		t.Fatalf("position %v covers a transaction made after it (%v)", pos, later)
	}
}

func TestPositionUnknownOnSQLite(t *testing.T) {
	pos, err := gormrepo.New(dbtest.SQLite(t), nil).Position(context.Background())
	if err != nil || pos != nil {
		t.Fatalf("position %v, %v; want none", pos, err)
	}
}

// Only readiness probes ping: their spans, one a second on every node, would
// bury the requests in a trace UI. Reads keep theirs.
func TestPingMakesNoSpansUnlessBackgroundIsTraced(t *testing.T) {
	for _, background := range []bool{false, true} {
		telemetry.SetTraceBackground(background)
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		repo := gormrepo.New(dbtest.SQLite(t), tp)
		if err := repo.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.StockByProducts(context.Background(), []int64{1}); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		pinged := slices.Contains(names, "StockRepository.Ping")
		if pinged != background || !slices.Contains(names, "StockRepository.StockByProducts") {
			t.Fatalf("background=%v: spans %v", background, names)
		}
	}
	telemetry.SetTraceBackground(false)
}
