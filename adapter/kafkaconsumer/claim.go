package kafkaconsumer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/changefeed"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/pace"
)

type tableKind int

const (
	stockTable tableKind = iota
	warehouseTable
	controlTopic
	heartbeatTopic
)

// ConsumeClaim handles one partition's messages, one at a time in offset
// order (a row's events are ordered within its partition), until the claim
// is released or the session ends.
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	c := h.c
	ctx := s.Context()
	p := changefeed.Partition{Topic: claim.Topic(), Partition: claim.Partition()}
	c.mu.Lock()
	sess := c.session
	c.mu.Unlock()
	if sess == nil {
		return nil // Setup always precedes claims; nothing sane to do otherwise
	}

	// InitialOffset is the sentinel "oldest" (Offsets.Initial) when sarama
	// had no usable committed offset (none, or out of range and reset): the
	// claim then began at the oldest offset the broker has.
	start, reset := claim.InitialOffset(), false
	if start < 0 {
		start, reset = h.claimStart(p, claim), true
	}
	// The position moves before the session counts as started: the end
	// offsets polled from then on are compared with it.
	c.checkStart(sess, p, start, claim.HighWaterMarkOffset(), reset)
	sess.register(p, start, c.feed)
	select {
	case <-sess.ready:
	case <-ctx.Done():
		return nil
	}

	pc := newPartitionConsumer(c, s, p, start)

	msgs := claim.Messages()
	batch := make([]*sarama.ConsumerMessage, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			batch = append(batch[:0], m)
			open := pace.Drain(msgs, func() bool { return len(batch) < maxBatch },
				func(m *sarama.ConsumerMessage) { batch = append(batch, m) })
			pc.handleBatch(ctx, batch)
			if !open {
				return nil
			}
		}
	}
}

// claimStart is where a claim that began at the sentinel "oldest" began:
// the partition's oldest offset now. Should the broker not say, 0 keeps
// the tracker from counting the partition caught up before its messages
// were handled.
func (h *groupHandler) claimStart(p changefeed.Partition, claim sarama.ConsumerGroupClaim) int64 {
	if claim.InitialOffset() == sarama.OffsetNewest {
		return claim.HighWaterMarkOffset()
	}
	start, err := offsetAt(h.client, p, sarama.OffsetOldest)
	if err != nil {
		return 0
	}
	return start
}

func newPartitionConsumer(c *Consumer, s sarama.ConsumerGroupSession, p changefeed.Partition, start int64) *partitionConsumer {
	pc := &partitionConsumer{
		c:               c,
		sess:            s,
		p:               p,
		next:            start,
		poison:          logLimiter{every: poisonLogGap},
		nullsAreDeletes: true,
		attrs: []attribute.KeyValue{
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.consumer.group.name", c.cfg.Group),
			attribute.String("messaging.destination.name", p.Topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(int(p.Partition))),
		},
	}
	switch p.Topic {
	case c.cfg.StockTopic:
		pc.kind, pc.m = stockTable, c.stock
	case c.cfg.WarehouseTopic:
		pc.kind, pc.m = warehouseTable, c.warehouse
	case c.cfg.HeartbeatTopic:
		pc.kind, pc.m = heartbeatTopic, c.heartbeat
	default:
		pc.kind, pc.m = controlTopic, c.control
	}
	return pc
}

// partitionConsumer is the state of one claim; only its goroutine uses it.
type partitionConsumer struct {
	c      *Consumer
	sess   sarama.ConsumerGroupSession
	p      changefeed.Partition
	kind   tableKind
	m      *topicMetrics
	next   int64 // the offset expected next
	poison logLimiter
	// nullsAreDeletes: the partition's last value was a flattened row
	// without __deleted, so a null value is a delete (see handle).
	nullsAreDeletes bool
	attrs           []attribute.KeyValue
}

// handleBatch handles messages already fetched, under one span. It stops
// early when the session ends; the rest are not marked, so they come again.
func (pc *partitionConsumer) handleBatch(ctx context.Context, batch []*sarama.ConsumerMessage) {
	_, span := pc.startSpan(ctx, batch)
	handled := 0
	for _, m := range batch {
		if ctx.Err() != nil {
			break
		}
		// Holes inside a live fetch are normal: transaction markers and log
		// compaction (Debezium topics are often compacted; that is what its
		// tombstones are for) both leave them, and compaction only drops a
		// record superseded by a later one of the same key, which still comes.
		// Real loss shows as an out-of-range offset, a truncated log or a
		// start past the expected offset, all reported as gaps elsewhere.
		// Flushing at every hole would flush at every transaction.
		switch pc.kind {
		case controlTopic:
			pc.command(ctx, m)
		case heartbeatTopic:
			pc.heartbeat(m)
		default:
			pc.handle(m)
		}
		pc.c.feed.Handled(pc.p, m.Offset)
		pc.sess.MarkMessage(m, "")
		pc.next = m.Offset + 1
		handled++
	}
	if handled > 0 {
		pc.c.mu.Lock()
		pc.c.expected[pc.p] = pc.next
		pc.c.mu.Unlock()
	}
	span.SetAttributes(attribute.Int("messaging.batch.message_count", handled))
	span.End()
}

// heartbeat handles a record of the source's heartbeat topic. Whatever its
// value (Debezium's {"ts_ms":...}, with or without the schema wrapper), it
// is a sign of life; gintoki relay's also say how far it has published. A
// position that cannot be read is counted and ignored, never trusted.
func (pc *partitionConsumer) heartbeat(m *sarama.ConsumerMessage) {
	pc.c.feed.Heartbeat()
	pc.m.heartbeats.Inc()
	pos, gtids, found, err := debezium.DecodeHeartbeatPosition(m.Value)
	switch {
	case err != nil:
		pc.c.metrics.positions.WithLabelValues(positionMalformed).Inc()
		if ok, suppressed := pc.poison.allow(time.Now()); ok {
			pc.c.log.Warn("heartbeat position ignored", "topic", m.Topic, "offset", m.Offset, "err", err, "suppressed_since_last_log", suppressed)
		}
	case found:
		pc.c.metrics.positions.WithLabelValues(positionRead).Inc()
		offsets := make(map[changefeed.Partition]int64, len(pos.Offsets))
		for _, o := range pos.Offsets {
			offsets[changefeed.Partition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
		at := m.Timestamp
		if at.IsZero() {
			at = time.Now()
		}
		pc.c.feed.Position(gtids, offsets, at)
	}
}

// startSpan continues the trace of the first message when its headers carry
// one, and links the other traces the batch carries. Heartbeats, a batch a
// second, make none unless background work is traced.
func (pc *partitionConsumer) startSpan(ctx context.Context, batch []*sarama.ConsumerMessage) (context.Context, trace.Span) {
	if pc.kind == heartbeatTopic && !telemetry.TracesBackground() {
		return ctx, trace.SpanFromContext(context.Background()) // a no-op span
	}
	parent := ctx
	var links []trace.Link
	prop := otel.GetTextMapPropagator()
	for i, m := range batch {
		if len(m.Headers) == 0 {
			continue
		}
		mctx := prop.Extract(ctx, headerCarrier(m.Headers))
		sc := trace.SpanContextFromContext(mctx)
		if !sc.IsValid() {
			continue
		}
		if i == 0 {
			parent = mctx
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
	}
	return pc.c.tracer.Start(parent, "cdc.apply_batch",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(pc.attrs...),
		trace.WithLinks(links...))
}

// handle applies one message; every failure is counted and logged, none
// stops the partition.
//
// A null value is Kafka's tombstone. In a stream that carries deletes as
// events (Debezium's envelope, or flattened rows with __deleted) it only
// follows the delete event for log compaction and is skipped. In a flattened
// stream without __deleted it is the delete itself
// (delete.tombstone.handling.mode=tombstone): applied as a delete of its key.
// Which kind of stream this is, the partition's last value tells; before any
// value the null is taken as a delete, which costs at most an eviction.
func (pc *partitionConsumer) handle(m *sarama.ConsumerMessage) {
	var (
		err     error
		tsMs    int64
		meta    debezium.Meta
		outcome inventory.Outcome
	)
	switch pc.kind {
	case stockTable:
		var change domain.StockChange
		if change, meta, err = pc.c.cfg.Decoder.StockRecord(m.Key, m.Value); err == nil && pc.applies(meta) {
			change.Position = m.Offset + 1
			outcome, tsMs = pc.c.applier.ApplyStock(change), change.SourceTsMs
		}
	case warehouseTable:
		var change domain.WarehouseChange
		if change, meta, err = pc.c.cfg.Decoder.WarehouseRecord(m.Key, m.Value); err == nil && pc.applies(meta) {
			change.Position = m.Offset + 1
			outcome, tsMs = pc.c.applier.ApplyWarehouse(change), change.SourceTsMs
		}
	}
	switch {
	case err == nil && meta.NullValue && !pc.nullsAreDeletes:
		pc.m.tombstone.Inc()
	case err == nil:
		pc.m.outcome(outcome).Inc()
		if !meta.NullValue {
			pc.nullsAreDeletes = meta.Form == debezium.FormFlattened && !meta.DeletedField
			pc.c.sourceShape.observe(pc.p.Topic, meta, pc.c.log)
		}
		if tsMs > 0 {
			pc.m.staleness.Observe(float64(max(time.Now().UnixMilli()-tsMs, 0)) / 1e3)
		}
	case errors.Is(err, debezium.ErrNotRowEvent):
		pc.m.skipped.Inc()
	default:
		pc.poisoned(m, err)
	}
}

// applies reports whether a decoded record is to be applied: every value,
// and a null value where nulls are the deletes.
func (pc *partitionConsumer) applies(meta debezium.Meta) bool {
	return !meta.NullValue || pc.nullsAreDeletes
}

// command carries out a fleet control command.
func (pc *partitionConsumer) command(ctx context.Context, m *sarama.ConsumerMessage) {
	cmd, err := fleetcontrol.Decode(m.Value)
	if err != nil {
		pc.m.poison.Inc()
		pc.c.log.Warn("fleet control record skipped", "topic", m.Topic, "offset", m.Offset, "err", err)
		return
	}
	if cmd.Action != fleetcontrol.ActionFlush {
		pc.m.skipped.Inc()
		pc.c.log.Warn("fleet control command unknown to this version; skipped", "action", cmd.Action, "id", cmd.ID)
		return
	}
	err = pc.c.applier.FlushAll(ctx)
	pc.c.feed.Flushed()
	pc.m.outcome(inventory.Flushed).Inc()
	attrs := []any{"id", cmd.ID, "reason", cmd.Reason, "requested_at", time.UnixMilli(cmd.RequestedAtMs).UTC()}
	if err != nil {
		pc.c.log.Warn("fleet flush: cache flushed, but the warehouse directory was not reloaded", append(attrs, "err", err)...)
		return
	}
	pc.c.log.Warn("fleet flush: cache flushed and warehouse directory reloaded", attrs...)
}

// poisoned handles a value that cannot be decoded. For a stock event whose
// key still names the row, that product's cached entry is dropped, so the
// change the value carried is read from the database instead. A warehouse
// change is not acted on: the directory re-reads warehouses at its next load,
// and flushing every product for one bad message would cost more than the
// short window it could save.
func (pc *partitionConsumer) poisoned(m *sarama.ConsumerMessage, err error) {
	pc.m.poison.Inc()
	attrs := []any{"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err}
	switch pc.kind {
	case stockTable:
		if productID, _, kerr := pc.c.cfg.Decoder.StockKey(m.Key); kerr == nil {
			pc.c.applier.Invalidate(productID)
			attrs = append(attrs, "invalidated_product_id", productID)
		} else {
			attrs = append(attrs, "key_err", kerr)
		}
	case warehouseTable:
		if id, kerr := pc.c.cfg.Decoder.WarehouseKey(m.Key); kerr == nil {
			attrs = append(attrs, "warehouse_id", id)
		} else {
			attrs = append(attrs, "key_err", kerr)
		}
	}
	if ok, suppressed := pc.poison.allow(time.Now()); ok {
		pc.c.log.Warn("kafka poison event skipped", append(attrs, "suppressed_since_last_log", suppressed)...)
	}
}
