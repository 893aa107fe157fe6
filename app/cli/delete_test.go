package cli

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The reported case: product 35586 cached with WH-A 12 (version 1) and
// WH-B 7; a DELETE of its WH-A row goes MariaDB -> binlog -> gintoki relay
// -> Kafka -> gintoki serve. The delete event carries the version the row
// already had, and WH-A must leave the cached answer. How long it took is
// logged, not asserted.
func TestRealDeleteReachesTheCacheThroughTheRelay(t *testing.T) {
	r := newFeedRig(t)
	r.exec("INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (35586,2,12,1,NOW(6)),(35586,1,7,1,NOW(6))")
	relayOps := freeAddr(t)
	start(t, "relay", "--db", r.dsn, "--kafka-brokers", r.brokers(), "--cdc-topic-prefix", r.prefix,
		"--snapshot", "never", "--metrics-addr", relayOps, "--server-id", "4242", "--log-level", "warn")
	// With --snapshot never the relay starts at the end of the binlog: wait
	// until it streams, or the DELETE could come before its start.
	polltest.Until(t, 30*time.Second, "relay streaming", func() bool { return ready("http://" + relayOps) })
	base, _ := r.serve()
	polltest.Until(t, 30*time.Second, "ready", func() bool { return ready(base) })
	polltest.Until(t, 3*time.Second, "product 35586 cached", answers(t, base, 35586, inv(35586, "WH-A=12", "WH-B=7")))
	q := dbQueries(t, base)

	began := time.Now()
	r.exec("DELETE FROM stock_items WHERE product_id=35586 AND warehouse_id=2")
	polltest.Until(t, 10*time.Second, "WH-A gone from the cached answer", answers(t, base, 35586, inv(35586, "WH-B=7")))
	t.Logf("DELETE to gone from /cache: %s", time.Since(began).Round(time.Millisecond))
	if dq := dbQueries(t, base) - q; dq != 0 {
		t.Fatalf("the answer came from %v database queries, not from the delete event", dq)
	}
	if n := metricValue(t, base, `gintoki_cdc_events_total{outcome="applied",topic="`+r.stockTopic+`"}`); n < 1 {
		t.Fatalf("the delete was not counted as applied (applied = %v)", n)
	}
}

// The same delete as Debezium writes it: the delete example of Debezium's
// documentation (schema/payload wrapper, op "d", after null, the source
// block) with the stock_items row in its before image, then the null-value
// tombstone with the same key.
func TestDebeziumDeleteFixtureReachesTheCache(t *testing.T) {
	raw, err := os.ReadFile("../../adapter/debezium/testdata/mysql-delete-with-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var event map[string]any
	if err := json.Unmarshal(raw, &event); err != nil {
		t.Fatal(err)
	}
	payload := event["payload"].(map[string]any)
	if payload["op"] != "d" || payload["after"] != nil {
		t.Fatalf("the fixture is not a delete: %v", payload)
	}
	payload["before"] = map[string]any{"product_id": 1, "warehouse_id": 2, "qty_salable": 12, "version": 1, "updated_at": time.Now().UnixMicro()}
	source := payload["source"].(map[string]any)
	source["db"], source["table"], source["name"] = "inventory", "stock_items", "itest"
	value, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	key, err := debeziumtest.EncodeStockKey(debezium.Source{}, 1, 2, true)
	if err != nil {
		t.Fatal(err)
	}

	r := newFeedRig(t)
	base, _ := r.serve()
	polltest.Until(t, 30*time.Second, "ready", func() bool { return ready(base) })
	polltest.Until(t, 3*time.Second, "product 1 cached", answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5")))
	r.send(r.stockTopic, key, value)
	r.send(r.stockTopic, key, nil)
	polltest.Until(t, 3*time.Second, "WH-A gone", answers(t, base, 1, inv(1, "WH-B=5")))
}

func (r *feedRig) exec(sql string) {
	r.t.Helper()
	if err := r.db.Exec(sql).Error; err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}
