package relay_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/usecase/relay"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// gtidInsert is a streamed insert of product p by transaction gtid, just
// now (so the relay counts as caught up and may send heartbeats).
func gtidInsert(p int, gtid string) relay.Item {
	return relay.Item{Kind: relay.ItemChange, Time: time.Now(), Change: &relay.Change{
		Table: stockTable, Op: domain.OpCreate, After: row(p, 1, p), At: relay.Position{File: "bin.000001", Pos: 10, GTID: gtid},
	}}
}

func gtidWarehouse(id int, gtid string) relay.Item {
	return relay.Item{Kind: relay.ItemChange, Time: time.Now(), Change: &relay.Change{
		Table: warehouseTable, Op: domain.OpCreate, After: row(id, "W"), At: relay.Position{File: "bin.000001", Pos: 10, GTID: gtid},
	}}
}

func gtidCommit(at uint64, gtid string) relay.Item {
	return relay.Item{Kind: relay.ItemCommit, Resume: relay.Position{File: "bin.000001", Pos: at, GTID: gtid}, Time: time.Now()}
}

func progressConfig() relay.Config {
	cfg := quickConfig(relay.SnapshotInitial)
	cfg.HeartbeatEvery, cfg.HeartbeatWithin, cfg.ProgressEvery = time.Hour, time.Hour, 5*time.Millisecond
	return cfg
}

// earlier are the end offsets an earlier relay left: this one writes
// warehouses/0 later or never, and must still name it, and the empty
// warehouses/2 too (a node requires every partition it owns named).
func earlier() relay.Offsets {
	return relay.Offsets{
		{Topic: "stock_items", Partition: 0}: 100,
		{Topic: "stock_items", Partition: 1}: 50,
		{Topic: "warehouses", Partition: 0}:  7,
		{Topic: "warehouses", Partition: 2}:  0, // empty, named all the same
	}
}

// checkRecords fails unless every progress record names only what Kafka had
// acknowledged when it was sent: every change of every transaction its GTID
// covers was placed before it, below its offset on the change's partition,
// and every partition earlier relays wrote is named at or past their end.
func checkRecords(t *testing.T, records []sentRecord, placed []placedChange, ends relay.Offsets) {
	t.Helper()
	for i, r := range records {
		covers, err := domain.ParseSourcePos(r.prog.GTID)
		if err != nil || len(covers) == 0 {
			t.Fatalf("record %d: gtid %q: %v", i, r.prog.GTID, err)
		}
		for tp, end := range ends {
			if off, ok := r.prog.Offsets[tp]; !ok || off < end {
				t.Errorf("record %d (%s) names %v at %d, below the %d earlier relays left", i, r.prog.GTID, tp, r.prog.Offsets[tp], end)
			}
		}
		for j, pc := range placed {
			g, ok := domain.ParseGTID(pc.c.At.GTID)
			if !ok || !covers.Covers(g) {
				continue
			}
			if j >= r.acked {
				t.Errorf("record %d (%s) sent before change %d of %s was acknowledged", i, r.prog.GTID, j, pc.c.At.GTID)
			}
			if pc.offset >= r.prog.Offsets[pc.at] {
				t.Errorf("record %d (%s): change of %s at %v offset %d not below %d", i, r.prog.GTID, pc.c.At.GTID, pc.at, pc.offset, r.prog.Offsets[pc.at])
			}
		}
	}
}

// After Kafka acknowledged a batch that ended transactions, the relay says
// so on the heartbeat topic: the GTID position (per domain the last
// transaction, transactions without captured changes included) and
// offsets that every change of those transactions lies below, on every
// partition, those earlier relays wrote included. A batch Kafka refused
// is never claimed; the transaction still open is not either.
func TestProgressRecordsFollowAcknowledgements(t *testing.T) {
	heard := relay.Item{Kind: relay.ItemHeartbeat, Time: time.Now()}
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{
		{items: []relay.Item{streaming, heard,
			gtidInsert(1, "0-1-11"), gtidInsert(2, "0-1-11"), gtidCommit(20, "0-1-11"),
			gtidInsert(3, "0-1-12"), gtidWarehouse(9, "0-1-12"), gtidCommit(30, "0-1-12"),
		}, err: errBroken},
		{items: []relay.Item{streaming, heard,
			gtidInsert(3, "0-1-12"), gtidWarehouse(9, "0-1-12"), gtidCommit(30, "0-1-12"),
			gtidInsert(4, "1-2-5"), gtidCommit(40, "1-2-5"),
			gtidCommit(50, "0-1-13"), // a transaction of tables not captured
			gtidInsert(5, "0-1-14"),  // still open
		}, block: true},
	}}
	failed := false
	pub := &fakePublisher{ends: earlier(), fail: func(_ int, batch []*relay.Change) error {
		if !failed && slices.ContainsFunc(batch, func(c *relay.Change) bool { return c.At.GTID == "0-1-12" }) {
			failed = true
			return errBroken
		}
		return nil
	}}
	store := &fakeStore{cp: &relay.Checkpoint{Position: relay.Position{File: "bin.000001", Pos: 5, GTID: "0-1-10"}}}
	start(t, progressConfig(), src, pub, store)
	polltest.Until(t, deadline, "a record of every ended transaction", func() bool {
		records, _ := pub.progress()
		return len(records) > 0 && records[len(records)-1].prog.GTID == "0-1-13,1-2-5"
	})
	records, placed := pub.progress()
	checkRecords(t, records, placed, earlier())
	if !failed {
		t.Fatal("the refused batch was never tried")
	}
	for _, r := range records {
		if g, _ := domain.ParseSourcePos(r.prog.GTID); g.Covers(mustGTID(t, "0-1-14")) {
			t.Errorf("record %s claims the open transaction 0-1-14", r.prog.GTID)
		}
	}
	// The checkpoint's transaction is known at once: the first record
	// already covers it.
	if g, _ := domain.ParseSourcePos(records[0].prog.GTID); !g.Covers(mustGTID(t, "0-1-10")) {
		t.Errorf("first record %s does not cover the checkpoint's 0-1-10", records[0].prog.GTID)
	}
}

func mustGTID(t *testing.T, s string) domain.GTID {
	t.Helper()
	g, ok := domain.ParseGTID(s)
	if !ok {
		t.Fatalf("gtid %q", s)
	}
	return g
}

// Records follow transactions at most once per ProgressEvery, and the last
// transaction of a burst is reported when the interval has passed, with no
// further batch and no regular heartbeat to carry it.
func TestProgressRecordsArePaced(t *testing.T) {
	cfg := progressConfig()
	cfg.ProgressEvery = 40 * time.Millisecond
	items := []relay.Item{streaming, {Kind: relay.ItemHeartbeat, Time: time.Now()}}
	const txs = 300
	for i := 1; i <= txs; i++ {
		g := "0-1-" + itoa(i)
		items = append(items, gtidInsert(i, g), gtidCommit(uint64(10*i), g))
	}
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: items, block: true}}}
	pub := &fakePublisher{}
	start(t, cfg, src, pub, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "the last transaction reported", func() bool {
		records, _ := pub.progress()
		return len(records) > 0 && records[len(records)-1].prog.GTID == "0-1-"+itoa(txs)
	})
	records, placed := pub.progress()
	checkRecords(t, records, placed, nil)
	beats := pub.heartbeats()
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].Sub(beats[i-1]); gap < cfg.ProgressEvery {
			t.Errorf("records %d and %d %s apart, less than ProgressEvery %s", i-1, i, gap, cfg.ProgressEvery)
		}
	}
}

func itoa(i int) string { return string(row(i)[0]) }

// Until the change topics' end offsets are known, no record is sent: a
// partition this relay has not written may hold an earlier relay's changes
// of the transactions the GTID covers. Without GTIDs there is nothing to
// report, and heartbeats go out as Debezium's.
func TestProgressNeedsEndOffsetsAndGTIDs(t *testing.T) {
	cfg := progressConfig()
	cfg.HeartbeatEvery = 10 * time.Millisecond
	src := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{streaming,
		{Kind: relay.ItemHeartbeat, Time: time.Now()}, gtidInsert(1, "0-1-11"), gtidCommit(20, "0-1-11")}, block: true}}}
	pub := &fakePublisher{ends: earlier(), endErrs: []error{errors.New("not allowed"), errors.New("not allowed")}}
	start(t, cfg, src, pub, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "a record once the end offsets are read", func() bool {
		records, _ := pub.progress()
		return len(records) > 0
	})
	records, placed := pub.progress()
	checkRecords(t, records, placed, earlier())
	if len(pub.heartbeats()) <= len(records) {
		t.Error("no plain heartbeat while the end offsets could not be read")
	}

	src2 := &fakeSource{binlogs: map[string]bool{"bin.000001": true}, sessions: []session{{items: []relay.Item{streaming,
		{Kind: relay.ItemHeartbeat, Time: time.Now()}, gtidInsert(1, ""), gtidCommit(20, "")}, block: true}}}
	pub2 := &fakePublisher{}
	start(t, cfg, src2, pub2, &fakeStore{cp: &relay.Checkpoint{Position: pos(5)}})
	polltest.Until(t, deadline, "heartbeats", func() bool { return len(pub2.heartbeats()) >= 3 })
	if records, _ := pub2.progress(); len(records) != 0 {
		t.Errorf("records %+v from a server without GTIDs", records)
	}
}
