// Package inventory is the read path: cache lookups, coalesced fills from the
// database under per-product locks, and the policy that protects the database.
package inventory

import (
	"context"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// StockRepository reads the source of truth.
type StockRepository interface {
	// StockByProducts returns every stock row of the given products (any
	// warehouse, active or not) joined with its warehouse, in one query.
	StockByProducts(ctx context.Context, productIDs []int64) ([]domain.StockWithWarehouse, error)
	// Warehouses returns the whole warehouse directory.
	Warehouses(ctx context.Context) ([]domain.Warehouse, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Position is how much of the replication stream (GTIDs) the database
	// has applied; read before a query it bounds what the query sees from
	// below. nil when the database cannot say.
	Position(ctx context.Context) (domain.SourcePos, error)
}

// EntryStore keeps cache entries by product id. Implementations are safe for
// concurrent use; the service serialises writers of one key with its locks.
type EntryStore interface {
	// Get decodes the entry of productID into dst, reusing dst's memory, and
	// reports whether one was present.
	Get(productID int64, dst *Entry) bool
	Set(productID int64, e *Entry) error
	Delete(productID int64)
	// Reset drops every entry.
	Reset()
	// Scan returns up to n product ids held, going on with a walk over the
	// store where the previous call stopped and starting over at its end,
	// so that calls in turn reach every entry.
	Scan(n int) []int64
	// Len is the number of entries held.
	Len() int
}

// Metrics receives what the read path observes. Calls on the hit path must
// be cheap (an atomic add).
type Metrics interface {
	CacheHit()
	CacheMiss()
	// Coalesced counts a miss that waited for another caller's fill instead
	// of querying the database itself.
	Coalesced()
	DBQuery(d time.Duration, err error)
	// DBRejected counts queries refused because the database was saturated.
	DBRejected()
	// StaleFillCorrected counts fills that read rows older than events
	// already handled, and were corrected before being cached.
	StaleFillCorrected()
	// StaleServed counts products answered from the cache, marked
	// possibly stale, because the database could not answer
	// (stale-if-error).
	StaleServed()
	// ReadAfter counts a read bounded by a read-after token by outcome
	// (cache, waited, database, unavailable), with how long it waited for
	// the change feed when it did.
	ReadAfter(outcome string, waited time.Duration)
}

// Clock tells the time; tests move it by hand.
type Clock interface{ Now() time.Time }

// NopMetrics discards every observation.
type NopMetrics struct{}

func (NopMetrics) CacheHit()                    {}
func (NopMetrics) CacheMiss()                   {}
func (NopMetrics) Coalesced()                   {}
func (NopMetrics) DBQuery(time.Duration, error) {}
func (NopMetrics) DBRejected()                  {}

// StaleFillCorrected implements Metrics.
func (NopMetrics) StaleFillCorrected() {}

// StaleServed implements Metrics.
func (NopMetrics) StaleServed() {}

// ReadAfter implements Metrics.
func (NopMetrics) ReadAfter(string, time.Duration) {}
