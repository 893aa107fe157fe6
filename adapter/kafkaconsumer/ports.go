package kafkaconsumer

import (
	"context"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// Applier takes the decoded change events (*inventory.Changes).
type Applier interface {
	ApplyStock(domain.StockChange) inventory.Outcome
	ApplyWarehouse(domain.WarehouseChange) inventory.Outcome
	Invalidate(productID int64)
	// FlushAll is the fleet-wide flush of a control command: every entry
	// and marker dropped, the warehouse directory read again.
	FlushAll(ctx context.Context) error
}

// Feed is told what the consumer sees of the feed, so it can decide when the
// cache may be trusted (*changefeed.Tracker). Calls for one partition come
// from one goroutine at a time; calls for different partitions may overlap.
type Feed interface {
	// SessionStarted: a session began owning assigned; complete means it
	// owns every partition of the configured topics. ends are the
	// partitions' end (high-water) offsets fetched right after assignment;
	// starts are the offsets the claims begin at.
	SessionStarted(assigned []changefeed.Partition, starts, ends map[changefeed.Partition]int64, complete bool)
	// SessionEnded: the session's partitions are no longer consumed.
	SessionEnded()
	// Contact: a broker answered; ends are fresh high-water offsets of the
	// owned partitions.
	Contact(ends map[changefeed.Partition]int64)
	// Handled: the message at offset was dealt with (applied, ignored,
	// poison, tombstone); the partition's position is offset+1.
	Handled(p changefeed.Partition, offset int64)
	// Gap: events may have been lost on p. The tracker flushes.
	Gap(p changefeed.Partition, reason string)
	// TopicMissing: a table's topic does not exist.
	TopicMissing(topic string)
	// Heartbeat: a heartbeat of the source was read. Whether the source's
	// silence counts is the feed's policy, not the consumer's: a heartbeat
	// topic that merely exists proves nothing.
	Heartbeat()
	// Position: a heartbeat said the source has published every change of
	// every transaction pos covers below offsets (per partition, the
	// offset after the last of them), sent at at.
	Position(pos domain.SourcePos, offsets map[changefeed.Partition]int64, at time.Time)
	// Flushed: a fleet-wide flush command emptied the cache.
	Flushed()
}
