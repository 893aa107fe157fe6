package kafkaconsumer

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
	"github.com/gintoki/gintoki/usecase/changefeed"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

func standardBroker(t *testing.T, opts ...kafkabroker.Option) *kafkabroker.Broker {
	t.Helper()
	return startBroker(t, append([]kafkabroker.Option{
		kafkabroker.Topics(2, testStockTopic),
		kafkabroker.Topics(1, testWarehouseTopic),
	}, opts...)...)
}

func TestSessionStartedOwnsEveryPartitionWhenAlone(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)
	s := h.waitSessions(t, 1)

	want := []changefeed.Partition{stockPart(0), stockPart(1), warehousePart()}
	if !slices.Equal(s.assigned, want) {
		t.Errorf("assigned = %v, want %v", s.assigned, want)
	}
	if !s.complete {
		t.Error("complete = false, want true for the only member of the group")
	}
	for _, p := range want {
		if _, ok := s.ends[p]; !ok {
			t.Errorf("no end offset for %v", p)
		}
		if _, ok := s.starts[p]; !ok {
			t.Errorf("no start offset for %v", p)
		}
	}
}

func TestAppliesEventsInOrderPerPartition(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)
	h.waitSessions(t, 1)

	p := newProducer(t, b.Addrs())
	const n = 30
	for v := uint64(1); v <= n; v++ {
		p.stock(0, 100, v) // product 100 lives on partition 0
		p.stock(1, 200, v) // product 200 on partition 1
	}
	p.warehouse(7, "WH-7", 3)

	polltest.Until(t, 10*time.Second, "every event applied", func() bool {
		return len(h.applier.stockChanges()) == 2*n && len(h.applier.warehouseChanges()) == 1
	})
	for _, pid := range []int64{100, 200} {
		got := h.applier.stockVersions(pid)
		for i, v := range got {
			if v != uint64(i+1) {
				t.Fatalf("product %d versions applied in order %v, want 1..%d", pid, got, n)
			}
		}
	}
	if w := h.applier.warehouseChanges()[0]; w.Row.ID != 7 || w.Row.Code != "WH-7" || !w.Row.Active {
		t.Errorf("warehouse change = %+v", w)
	}
	for _, part := range []changefeed.Partition{stockPart(0), stockPart(1)} {
		offs := h.feed.handledOffsets(part)
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("%v handled offsets %v, want 0..%d in order", part, offs, n-1)
			}
		}
	}
	if got := h.events(testStockTopic, "applied"); got != 2*n {
		t.Errorf("%s{applied} = %v, want %d", EventsTotalName, got, 2*n)
	}
	if got := h.events(testWarehouseTopic, "applied"); got != 1 {
		t.Errorf("warehouse applied = %v, want 1", got)
	}
	if c := observations(h.consumer.metrics.staleness.WithLabelValues(testStockTopic)); c != 2*n {
		t.Errorf("staleness observations = %d, want %d", c, 2*n)
	}
	if c := observations(h.consumer.metrics.staleness.WithLabelValues(testWarehouseTopic)); c == 0 {
		t.Error("staleness histogram observed nothing")
	}
	if g := h.feed.gapList(); len(g) != 0 {
		t.Errorf("unexpected gaps: %v", g)
	}
}

func TestTombstonesPoisonAndNonRowEvents(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())

	key55, _ := debeziumtest.EncodeStockKey(debezium.Source{}, 55, 1, false)
	whKey, _ := debeziumtest.EncodeWarehouseKey(debezium.Source{}, 9, false)
	deleted := domain.StockRow{ProductID: 55, WarehouseID: 1, QtySalable: 3, Version: 2}
	del, _ := debeziumtest.EncodeStock(domain.OpDelete, &deleted, nil, debezium.Source{TsMs: time.Now().UnixMilli()}, false, 0)
	p.send(testStockTopic, 0, key55, del)                                   // a delete event...
	p.send(testStockTopic, 0, key55, nil)                                   // ...and the tombstone after it
	p.send(testStockTopic, 0, key55, []byte(`{"op":"u","after":{"product`)) // poison, key readable
	p.send(testStockTopic, 0, []byte("not json"), []byte("neither"))        // poison, key unreadable
	p.send(testStockTopic, 0, nil, []byte(`{"ts_ms":1700000000000}`))       // heartbeat: not a row
	p.send(testWarehouseTopic, 0, whKey, []byte(`{"op":"c","after":{}}`))   // warehouse poison
	last := p.stock(0, 56, 4)                                               // the partition goes on

	polltest.Until(t, 10*time.Second, "the event after the poison applied", func() bool {
		return slices.Contains(h.feed.handledOffsets(stockPart(0)), last) && len(h.feed.handledOffsets(warehousePart())) == 1
	})
	if got := h.applier.stockVersions(56); !slices.Equal(got, []uint64{4}) {
		t.Errorf("product 56 versions = %v, want [4]", got)
	}
	// The delete event went to the cache; the tombstone after it did not.
	if got := h.applier.stockVersions(55); !slices.Equal(got, []uint64{2}) {
		t.Errorf("product 55 versions = %v, want [2] (the delete alone)", got)
	}
	if got := h.applier.invalidatedIDs(); !slices.Equal(got, []int64{55}) {
		t.Errorf("invalidated = %v, want [55] (the poison with a readable key)", got)
	}
	if n := h.applier.flushCount(); n != 0 {
		t.Errorf("flushes = %d, want 0: a poison warehouse event must not flush the cache", n)
	}
	if n := len(h.applier.warehouseChanges()); n != 0 {
		t.Errorf("warehouse changes applied = %d, want 0", n)
	}
	for _, c := range []struct {
		topic, outcome string
		want           float64
	}{
		{testStockTopic, "tombstone", 1},
		{testStockTopic, "poison", 2},
		{testStockTopic, "skipped", 1},
		{testStockTopic, "applied", 2},
		{testWarehouseTopic, "poison", 1},
	} {
		if got := h.events(c.topic, c.outcome); got != c.want {
			t.Errorf("%s{topic=%s,outcome=%s} = %v, want %v", EventsTotalName, c.topic, c.outcome, got, c.want)
		}
	}
	if got := h.feed.handledOffsets(stockPart(0)); len(got) != 6 {
		t.Errorf("handled offsets on stock/0 = %v, want all 6 messages", got)
	}
}

// A new process starts at the newest offsets even when its group committed
// older ones: events produced while no process ran are history it skips.
func TestFirstSessionStartsAtNewestDespiteCommittedOffsets(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	group := uniqueGroup(t)
	p := newProducer(t, b.Addrs())

	first := newHarness(t, b.Addrs(), group)
	first.start(t)
	first.waitSessions(t, 1)
	p.stock(0, 1, 1)
	polltest.Until(t, 10*time.Second, "first process applied its event", func() bool {
		return len(first.applier.stockChanges()) == 1
	})
	first.stop(t)
	if off := committedOffset(t, b.Addrs(), group, stockPart(0)); off != 1 {
		t.Fatalf("committed offset after the first process = %d, want 1", off)
	}

	for v := uint64(2); v <= 4; v++ {
		p.stock(0, 1, v) // produced while no process runs
	}

	second := newHarness(t, b.Addrs(), group)
	second.start(t)
	s := second.waitSessions(t, 1)
	if got := s.starts[stockPart(0)]; got != 4 {
		t.Errorf("start offset of stock/0 = %d, want the newest (4)", got)
	}
	p.stock(0, 1, 5)
	polltest.Until(t, 10*time.Second, "the event produced after start applied", func() bool {
		return len(second.applier.stockChanges()) > 0
	})
	if got := second.applier.stockVersions(1); !slices.Equal(got, []uint64{5}) {
		t.Errorf("new process applied versions %v, want only [5]", got)
	}
	if g := second.feed.gapList(); len(g) != 0 {
		t.Errorf("gaps in a fresh process: %v", g)
	}
}

// Stopping and starting the same Consumer is the same process: it resumes
// at the committed offset and sees what was produced meanwhile.
func TestRestartOfSameConsumerResumesAtCommittedOffset(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	p := newProducer(t, b.Addrs())
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)
	h.waitSessions(t, 1)
	p.stock(0, 1, 1)
	polltest.Until(t, 10*time.Second, "first event applied", func() bool { return len(h.applier.stockChanges()) == 1 })
	h.stop(t)

	p.stock(0, 1, 2)
	p.stock(0, 1, 3)

	h.start(t)
	s := h.waitSessions(t, 2)
	if got := s.starts[stockPart(0)]; got != 1 {
		t.Errorf("second session starts stock/0 at %d, want the committed offset 1", got)
	}
	polltest.Until(t, 10*time.Second, "events produced while stopped applied", func() bool {
		return len(h.applier.stockChanges()) == 3
	})
	if got := h.applier.stockVersions(1); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("versions = %v, want [1 2 3]", got)
	}
	if g := h.feed.gapList(); len(g) != 0 {
		t.Errorf("gaps on a plain restart: %v", g)
	}
}

func TestStopCommitsHandledOffsets(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	group := uniqueGroup(t)
	p := newProducer(t, b.Addrs())
	h := newHarness(t, b.Addrs(), group)
	h.start(t)
	h.waitSessions(t, 1)
	for v := uint64(1); v <= 3; v++ {
		p.stock(1, 9, v)
	}
	polltest.Until(t, 10*time.Second, "events applied", func() bool { return len(h.applier.stockChanges()) == 3 })
	h.stop(t)
	if off := committedOffset(t, b.Addrs(), group, stockPart(1)); off != 3 {
		t.Errorf("committed offset of stock/1 = %d, want 3", off)
	}
	if ended := h.feed.endedCount(); ended != 1 {
		t.Errorf("SessionEnded calls = %d, want 1", ended)
	}
}

func TestContactPolledWithEndOffsets(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withPoll(20*time.Millisecond))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())
	p.stock(1, 3, 1)
	p.stock(1, 3, 2)

	polltest.Until(t, 10*time.Second, "a contact reporting the new end offset", func() bool {
		cs := h.feed.contactList()
		return len(cs) > 0 && cs[len(cs)-1][stockPart(1)] == 2
	})
	last := h.feed.contactList()
	ends := last[len(last)-1]
	for _, part := range []changefeed.Partition{stockPart(0), stockPart(1), warehousePart()} {
		if _, ok := ends[part]; !ok {
			t.Errorf("contact lacks %v: %v", part, ends)
		}
	}
	if v := metricValue(h.consumer.metrics.lastContact); v <= 0 {
		t.Errorf("%s = %v, want a timestamp", LastContactName, v)
	}
	polltest.Until(t, 10*time.Second, "lag of stock/1 back to zero", func() bool {
		return metricValue(h.consumer.metrics.lag.WithLabelValues(testStockTopic, "1")) == 0 &&
			len(h.applier.stockChanges()) == 2
	})
}

func TestMissingTopicIsReportedThenConsumed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, kafkabroker.Topics(1, testStockTopic))
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)

	polltest.Until(t, 15*time.Second, "TopicMissing for the warehouse topic", func() bool {
		return slices.Contains(h.feed.missingTopics(), testWarehouseTopic)
	})
	if slices.Contains(h.feed.missingTopics(), testStockTopic) {
		t.Error("the existing stock topic was reported missing")
	}
	if n := len(h.feed.sessionStarts()); n != 0 {
		t.Errorf("a session started (%d) while a topic is missing", n)
	}

	if err := kafkabroker.CreateTopics(b.Addrs(), 1, testWarehouseTopic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	s := h.waitSessions(t, 1)
	if !s.complete || len(s.assigned) != 2 {
		t.Errorf("session after the topic appeared: complete=%v assigned=%v", s.complete, s.assigned)
	}
}

func TestStartSucceedsWithBrokerDownAndConnectsLater(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := "127.0.0.1:" + itoa(port)
	h := newHarness(t, []string{addr}, uniqueGroup(t))
	h.start(t) // nothing listens yet: must not fail

	time.Sleep(300 * time.Millisecond) // let at least one attempt fail
	standardBroker(t, kafkabroker.Port(port))
	s := h.waitSessions(t, 1)
	if !s.complete {
		t.Error("session not complete after the broker appeared")
	}
}

func TestStopIsPromptWhileBrokerUnreachable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, []string{"127.0.0.1:" + itoa(freePort(t))}, uniqueGroup(t))
	h.start(t)
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.consumer.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestStartTwiceFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, []string{"127.0.0.1:" + itoa(freePort(t))}, uniqueGroup(t))
	h.start(t)
	if err := h.consumer.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded; want an error")
	}
}

// The broker comes back without its data (a new cluster on the same port):
// the offsets this process expects are gone, which is a gap.
func TestGapWhenBrokerReturnsWithoutData(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	b := standardBroker(t, kafkabroker.Port(port))
	h := newHarness(t, b.Addrs(), uniqueGroup(t))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())
	for v := uint64(1); v <= 3; v++ {
		p.stock(0, 1, v)
	}
	polltest.Until(t, 10*time.Second, "events applied", func() bool { return len(h.applier.stockChanges()) == 3 })

	b.Close()
	standardBroker(t, kafkabroker.Port(port))

	polltest.Until(t, 30*time.Second, "a gap on stock/0", func() bool {
		for _, g := range h.feed.gapList() {
			if g.p == stockPart(0) {
				return true
			}
		}
		return false
	})
	h.waitSessions(t, 2)
	p2 := newProducer(t, b.Addrs())
	p2.stock(0, 1, 10)
	polltest.Until(t, 10*time.Second, "events on the new broker applied", func() bool {
		return slices.Contains(h.applier.stockVersions(1), 10)
	})
	for _, g := range h.feed.gapList() {
		if g.p == stockPart(0) && !strings.Contains(g.reason, "truncated") && !strings.Contains(g.reason, "out of range") &&
			!strings.Contains(g.reason, "committed offset") && !strings.Contains(g.reason, "lost its data") &&
			!strings.Contains(g.reason, "created again") {
			t.Errorf("unexpected gap reason %q", g.reason)
		}
	}
}

func committedOffset(t *testing.T, brokers []string, group string, p changefeed.Partition) int64 {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{p.Topic: {p.Partition}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	block := resp.GetBlock(p.Topic, p.Partition)
	if block == nil {
		t.Fatalf("no offset block for %v", p)
	}
	return block.Offset
}

func itoa(n int) string { return strconv.Itoa(n) }

// The broker restarts with its data (logs and committed offsets kept). The
// restarted broker makes the consumer rejoin (heartbeats answer "rebalance in
// progress") and refuses the join until events have been produced there, so
// the new session must resume at the committed offset, not the newest, to
// see them; and no gap is reported.
func TestResumesInPlaceAfterBrokerRestartWithData(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dir := t.TempDir()
	clusterOpts := []kfake.Opt{
		kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir),
		kfake.SeedTopics(2, testStockTopic), kfake.SeedTopics(1, testWarehouseTopic),
	}
	first, err := kfake.NewCluster(clusterOpts...)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	addrs := first.ListenAddrs()
	h := newHarness(t, addrs, uniqueGroup(t))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, addrs)
	for v := uint64(1); v <= 3; v++ {
		p.stock(0, 1, v)
	}
	polltest.Until(t, 10*time.Second, "events applied", func() bool { return len(h.applier.stockChanges()) == 3 })
	first.Close()

	var open atomic.Bool
	var refusedJoins atomic.Int32
	second, err := kfake.NewCluster(clusterOpts...)
	if err != nil {
		t.Fatalf("restart cluster: %v", err)
	}
	t.Cleanup(second.Close)
	refuse := func(count *atomic.Int32) func(kmsg.Request) (kmsg.Response, error, bool) {
		return func(req kmsg.Request) (kmsg.Response, error, bool) {
			second.KeepControl()
			if open.Load() {
				return nil, nil, false
			}
			resp := req.ResponseKind()
			resp.SetVersion(req.GetVersion())
			switch r := resp.(type) {
			case *kmsg.HeartbeatResponse:
				r.ErrorCode = kerr.RebalanceInProgress.Code
			case *kmsg.JoinGroupResponse:
				r.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
			if count != nil {
				count.Add(1)
			}
			return resp, nil, true
		}
	}
	second.ControlKey(int16(kmsg.Heartbeat), refuse(nil))
	second.ControlKey(int16(kmsg.JoinGroup), refuse(&refusedJoins))

	polltest.Until(t, 30*time.Second, "the consumer trying to rejoin the restarted broker", func() bool {
		return refusedJoins.Load() > 0
	})
	p2 := newProducer(t, addrs)
	p2.stock(0, 1, 4)
	p2.stock(0, 1, 5)
	open.Store(true)

	s := h.waitSessions(t, 2)
	if start := s.starts[stockPart(0)]; start > 3 {
		t.Errorf("the session after the restart started stock/0 at %d, past the last handled position 3", start)
	}
	polltest.Until(t, 30*time.Second, "events produced after the restart applied", func() bool {
		got := h.applier.stockVersions(1)
		return slices.Contains(got, 4) && slices.Contains(got, 5)
	})
	if g := h.feed.gapList(); len(g) != 0 {
		t.Errorf("gaps after a restart that kept the data: %v", g)
	}
}

// A flattened stream with ExtractNewRecordState's
// delete.tombstone.handling.mode=tombstone carries a delete as nothing but a
// null value with the row's key: it must reach the cache as a delete, in
// partition order, and the missing __deleted must be reported once. Once the
// stream shows delete events (__deleted), a null is compaction's tombstone.
func TestNullValueIsADeleteOfItsKey(t *testing.T) {
	t.Parallel()
	b := standardBroker(t)
	logs := &logtest.Buffer{}
	h := newHarness(t, b.Addrs(), uniqueGroup(t), withLogger(slog.New(slog.NewTextHandler(logs, nil))))
	h.start(t)
	h.waitSessions(t, 1)
	p := newProducer(t, b.Addrs())

	key, _ := debeziumtest.EncodeStockKey(debezium.Source{}, 7, 2, false)
	whKey, _ := debeziumtest.EncodeWarehouseKey(debezium.Source{}, 3, true)
	// Rows as the transform writes them without rewrite: no __deleted.
	p.send(testStockTopic, 0, key, []byte(`{"product_id":7,"warehouse_id":2,"qty_salable":4,"version":9,"updated_at":1700000000000000}`))
	p.send(testStockTopic, 0, key, nil)
	p.send(testStockTopic, 0, key, []byte(`{"product_id":7,"warehouse_id":2,"qty_salable":5,"version":10,"updated_at":1700000000000001}`))
	p.send(testStockTopic, 0, []byte(`{"product_id":"x"}`), nil) // a null value whose key names no row
	p.send(testWarehouseTopic, 0, whKey, nil)                    // first in its partition: a delete
	// The source switches to rewrite: deletes come as rows, nulls are tombstones.
	p.send(testStockTopic, 0, key, []byte(`{"product_id":7,"warehouse_id":2,"qty_salable":5,"version":10,"updated_at":1700000000000001,"__deleted":"true"}`))
	p.send(testStockTopic, 0, key, nil)

	polltest.Until(t, 10*time.Second, "every record handled", func() bool {
		return len(h.feed.handledOffsets(stockPart(0))) == 6 && len(h.feed.handledOffsets(warehousePart())) == 1
	})
	got := h.applier.stockChanges()
	// Each change carries its place in the partition (offset + 1).
	want := []domain.StockChange{
		{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 7, WarehouseID: 2, QtySalable: 4, Version: 9}, Position: 1},
		{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 7, WarehouseID: 2}, ByKey: true, Position: 2},
		{Op: domain.OpUpdate, Row: domain.StockRow{ProductID: 7, WarehouseID: 2, QtySalable: 5, Version: 10}, Position: 3},
		{Op: domain.OpDelete, Row: domain.StockRow{ProductID: 7, WarehouseID: 2, QtySalable: 5, Version: 10}, Position: 5},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stock changes\n got %+v\nwant %+v", got, want)
	}
	wantWH := domain.WarehouseChange{Op: domain.OpDelete, Row: domain.Warehouse{ID: 3}, ByKey: true, Position: 1}
	if got := h.applier.warehouseChanges(); len(got) != 1 || got[0] != wantWH {
		t.Fatalf("warehouse changes %+v, want [%+v]", got, wantWH)
	}
	if a, p, ts := h.events(testStockTopic, "applied"), h.events(testStockTopic, "poison"), h.events(testStockTopic, "tombstone"); a != 4 || p != 1 || ts != 1 {
		t.Errorf("stock applied %v poison %v tombstone %v, want 4, 1 and 1", a, p, ts)
	}
	if n := strings.Count(logs.String(), "without __deleted"); n != 1 {
		t.Errorf("the missing __deleted was reported %d times, want once:\n%s", n, logs.String())
	}
}
