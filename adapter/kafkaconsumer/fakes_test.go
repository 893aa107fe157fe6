package kafkaconsumer

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
)

// fakeApplier records what the consumer asked of the cache.
type fakeApplier struct {
	mu          sync.Mutex
	stock       []domain.StockChange
	warehouses  []domain.WarehouseChange
	invalidated []int64
	flushes     int
	fullFlushes int
	outcome     inventory.Outcome
}

func (a *fakeApplier) ApplyStock(c domain.StockChange) inventory.Outcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stock = append(a.stock, c)
	return a.outcome
}

func (a *fakeApplier) ApplyWarehouse(c domain.WarehouseChange) inventory.Outcome {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warehouses = append(a.warehouses, c)
	return a.outcome
}

func (a *fakeApplier) Invalidate(productID int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalidated = append(a.invalidated, productID)
}

func (a *fakeApplier) Flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushes++
}

func (a *fakeApplier) stockChanges() []domain.StockChange {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.stock)
}

func (a *fakeApplier) warehouseChanges() []domain.WarehouseChange {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.warehouses)
}

func (a *fakeApplier) invalidatedIDs() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.invalidated)
}

func (a *fakeApplier) FlushAll(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fullFlushes++
	return nil
}

func (a *fakeApplier) fullFlushCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fullFlushes
}

func (a *fakeApplier) flushCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flushes
}

// stockVersions lists the versions applied for one product, in order.
func (a *fakeApplier) stockVersions(productID int64) []uint64 {
	var out []uint64
	for _, c := range a.stockChanges() {
		if c.Row.ProductID == productID {
			out = append(out, c.Row.Version)
		}
	}
	return out
}

type sessionStart struct {
	assigned     []changefeed.Partition
	starts, ends map[changefeed.Partition]int64
	complete     bool
}

type gapCall struct {
	p      changefeed.Partition
	reason string
}

// fakeFeed records what the consumer told the tracker. It also checks the
// protocol: Handled and Contact only inside a started session.
type fakeFeed struct {
	mu         sync.Mutex
	starts     []sessionStart
	ended      int
	inSession  bool
	contacts   []map[changefeed.Partition]int64
	handled    map[changefeed.Partition][]int64
	gaps       []gapCall
	missing    []string
	violation  []string
	heartbeats int
	positions  []positionCall
	flushes    int
}

type positionCall struct {
	pos     domain.SourcePos
	offsets map[changefeed.Partition]int64
	at      time.Time
}

func (f *fakeFeed) Position(pos domain.SourcePos, offsets map[changefeed.Partition]int64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.positions = append(f.positions, positionCall{pos: pos, offsets: maps.Clone(offsets), at: at})
}

func (f *fakeFeed) positionList() []positionCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.positions)
}

func (f *fakeFeed) Flushed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
}

func newFakeFeed() *fakeFeed {
	return &fakeFeed{handled: make(map[changefeed.Partition][]int64)}
}

func (f *fakeFeed) SessionStarted(assigned []changefeed.Partition, starts, ends map[changefeed.Partition]int64, complete bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inSession {
		f.violation = append(f.violation, "SessionStarted inside a session")
	}
	f.inSession = true
	f.starts = append(f.starts, sessionStart{assigned: slices.Clone(assigned), starts: maps.Clone(starts), ends: maps.Clone(ends), complete: complete})
}

func (f *fakeFeed) SessionEnded() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inSession {
		f.violation = append(f.violation, "SessionEnded outside a session")
	}
	f.inSession = false
	f.ended++
}

func (f *fakeFeed) Contact(ends map[changefeed.Partition]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inSession {
		f.violation = append(f.violation, "Contact outside a session")
	}
	f.contacts = append(f.contacts, maps.Clone(ends))
}

func (f *fakeFeed) Handled(p changefeed.Partition, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inSession {
		f.violation = append(f.violation, "Handled outside a session")
	}
	f.handled[p] = append(f.handled[p], offset)
}

func (f *fakeFeed) Gap(p changefeed.Partition, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gaps = append(f.gaps, gapCall{p: p, reason: reason})
}

func (f *fakeFeed) TopicMissing(topic string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing = append(f.missing, topic)
}

func (f *fakeFeed) Heartbeat() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats++
}

// heartbeatCount is how many heartbeats arrived.
func (f *fakeFeed) heartbeatCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heartbeats
}

func (f *fakeFeed) sessionStarts() []sessionStart {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts)
}

func (f *fakeFeed) contactList() []map[changefeed.Partition]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.contacts)
}

func (f *fakeFeed) handledOffsets(p changefeed.Partition) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.handled[p])
}

func (f *fakeFeed) gapList() []gapCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gaps)
}

func (f *fakeFeed) missingTopics() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.missing)
}

func (f *fakeFeed) violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violation)
}

func (f *fakeFeed) endedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}
