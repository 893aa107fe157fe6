package relayproof

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/app/apptest/rig"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker/kafkatest"
)

const (
	products   = 20
	warehouses = 3
	// drainLimit guards against a hang only; no test measures time.
	drainLimit = 2 * time.Minute
)

// TestAlterWhileTheRelayIsDown is the stop found from outside: the relay is
// killed, rows are written, stock_items gains a column in the middle, more
// rows are written with it, and the relay starts again. With
// binlog_row_metadata=FULL it must not stop: every event on the topic is
// the row as it was (no mid before the ALTER, mid after it), and a read node
// fed by it ends with every product equal to the database.
func TestAlterWhileTheRelayIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the relay and a read node as processes")
	}
	t.Parallel()
	ctx := context.Background()
	dsn, gdb := dbtest.MySQLDSN(t)
	if _, err := database.Seed(ctx, gdb, products, warehouses); err != nil {
		t.Fatal(err)
	}
	p := rig.New(t, dsn, gdb, rig.Options{Prefix: "alter", Nodes: 1, Partitions: 3})
	dbtest.RowMetadataFull(t, p.DB)
	m := newStockModel(t, p.DB)
	ids := make([]int64, 0, products+2)
	for id := int64(1); id <= products+2; id++ {
		ids = append(ids, id)
	}

	p.StartRelay()
	n := p.Nodes[0]
	p.StartNode(n)
	p.Drain(drainLimit)
	// Every product cached: from here only the change feed can correct
	// the node (no inspector, a TTL longer than the test).
	if diffs, err := p.Differences(ctx, n, ids); err != nil || len(diffs) > 0 {
		t.Fatalf("before the test: %v %s", err, strings.Join(diffs, "\n"))
	}

	p.Relay.Kill() // no final checkpoint: what a crash leaves
	for pid := int64(1); pid <= 5; pid++ {
		m.write(rowKey{pid, 1}, int32(100+pid), nil)
	}
	m.remove(rowKey{6, 2})
	m.write(rowKey{21, 1}, 21, nil) // a new product
	m.write(rowKey{2, 1}, 202, nil)
	alterFile, alterPos := p.BinlogPosition()
	m.alter("ALTER TABLE stock_items ADD COLUMN mid VARCHAR(20) NULL AFTER warehouse_id")
	afterFile, afterPos := p.BinlogPosition()
	writesBefore := len(m.writes)
	for pid := int64(1); pid <= 5; pid++ {
		mid := "m-" + strconv.FormatInt(pid, 10)
		m.write(rowKey{pid, 2}, int32(200+pid), &mid)
	}
	m.remove(rowKey{7, 3})
	m.remove(rowKey{21, 1})
	mid := "new"
	m.write(rowKey{22, 3}, 22, &mid)
	m.write(rowKey{3, 1}, 303, nil) // a row written before the ALTER, updated after it

	if reason, stopped := p.LaunchRelay(); stopped {
		t.Fatalf("the relay stopped for good (%s) over the ALTER:\n%s", reason, p.Relay.Stderr())
	}
	p.Drain(drainLimit)
	diffs, err := p.Differences(ctx, n, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("%d of %d products on the read node differ from the database:\n%s", len(diffs), len(ids), strings.Join(diffs, "\n"))
	}

	before := func(file, pos uint64) bool { return file < alterFile || file == alterFile && pos < alterPos }
	after := func(file, pos uint64) bool { return file > afterFile || file == afterFile && pos >= afterPos }
	checked, seen := checkTopic(t, p, m, before, after)
	for _, w := range m.writes {
		if seen[w] == 0 {
			t.Errorf("write %s is not on the topic", w)
		}
	}
	t.Logf("%d row images on the topic match the rows' states, %d writes (%d after the ALTER) all there; %d products on the read node equal the database",
		checked, len(m.writes), len(m.writes)-writesBefore, len(ids)-len(diffs))
}

// checkTopic checks every event of the stock topic against the model, and
// that events before the ALTER lack mid and those after it carry it. It
// returns how many images it checked and how often each write was seen.
func checkTopic(t *testing.T, p *rig.Pipeline, m *stockModel, before, after func(file, pos uint64) bool) (int, map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), drainLimit)
	defer cancel()
	msgs, err := kafkatest.ReadToEnd(ctx, []string{p.Brokers()}, p.StockTopic)
	if err != nil {
		t.Fatal(err)
	}
	checked, seen := 0, map[string]int{}
	for _, msg := range msgs {
		if msg.Value == nil {
			continue // the tombstone after a delete
		}
		env, err := debezium.DecodeEnvelope(msg.Value)
		if err != nil {
			t.Errorf("offset %d: %v: %s", msg.Offset, err, msg.Value)
			continue
		}
		file, err := fileIndex(env.Source.File)
		if err != nil {
			t.Errorf("offset %d: %v", msg.Offset, err)
			continue
		}
		img := env.After
		if env.Op == 'd' {
			img = env.Before
		}
		for _, raw := range [][]byte{env.Before, env.After} {
			if raw == nil {
				continue
			}
			got, problem := m.check(raw)
			checked++
			if problem != "" {
				t.Errorf("%c event at %s:%d: %s", env.Op, env.Source.File, env.Source.Pos, problem)
			}
			_, hasMid := got["mid"]
			switch {
			case before(file, uint64(env.Source.Pos)) && hasMid:
				t.Errorf("%c event at %s:%d, before the ALTER, has mid: %s", env.Op, env.Source.File, env.Source.Pos, raw)
			case after(file, uint64(env.Source.Pos)) && !hasMid:
				t.Errorf("%c event at %s:%d, after the ALTER, lacks mid: %s", env.Op, env.Source.File, env.Source.Pos, raw)
			}
		}
		if got, _ := m.check(img); got != nil {
			seen[fmt.Sprintf("%c/%v/%v/%v", env.Op, got["product_id"], got["warehouse_id"], got["version"])]++
		}
	}
	return checked, seen
}

// fileIndex is the number a binlog file name ends with.
func fileIndex(file string) (uint64, error) {
	i := strings.LastIndexByte(file, '.')
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("binlog file %q: %w", file, err)
	}
	return n, nil
}
