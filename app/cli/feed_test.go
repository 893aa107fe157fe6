package cli

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/debezium/debeziumtest"
	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// feedRig is MariaDB + an in-process Kafka-protocol broker + a producer,
// for read nodes started with `serve --kafka-brokers`.
type feedRig struct {
	t          *testing.T
	db         *gorm.DB
	dsn        string
	database   string
	prefix     string
	port       int
	dataDir    string
	broker     *kafkabroker.Broker
	producer   sarama.SyncProducer
	stockTopic string
	whTopic    string
}

func newFeedRig(t *testing.T) *feedRig {
	dsn, db := dbtest.MySQLDSN(t)
	for _, q := range []string{
		"INSERT INTO warehouses (id, code, name, is_active, version, updated_at) VALUES (1,'WH-B','b',1,1,NOW(6)),(2,'WH-A','a',1,1,NOW(6))",
		"INSERT INTO stock_items (product_id, warehouse_id, qty_salable, version, updated_at) VALUES (1,1,5,1,NOW(6)),(1,2,12,1,NOW(6)),(2,1,7,1,NOW(6))",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	_, portStr, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(portStr)
	r := &feedRig{t: t, db: db, dsn: "mysql://" + dsn.Raw, database: dsn.Database, prefix: "itest", port: port, dataDir: t.TempDir()}
	r.stockTopic = kafkaconsumer.TopicName(r.prefix, r.database, "stock_items")
	r.whTopic = kafkaconsumer.TopicName(r.prefix, r.database, "warehouses")
	r.startBroker()
	t.Cleanup(func() {
		if r.producer != nil {
			r.producer.Close()
		}
		if r.broker != nil {
			r.broker.Close()
		}
	})
	return r
}

func (r *feedRig) startBroker() {
	b, err := kafkabroker.Start(kafkabroker.Port(r.port), kafkabroker.DataDir(r.dataDir), kafkabroker.Topics(2, r.stockTopic, r.whTopic))
	if err != nil {
		r.t.Fatal(err)
	}
	r.broker = b
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Version = sarama.V2_8_0_0
	p, err := sarama.NewSyncProducer(b.Addrs(), cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.producer = p
}

func (r *feedRig) stopBroker() {
	r.producer.Close()
	r.producer = nil
	r.broker.Close()
	r.broker = nil
}

func (r *feedRig) brokers() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *feedRig) serve(extra ...string) (string, *process) {
	addr := freeAddr(r.t)
	args := append([]string{"serve", "--db", r.dsn, "--http-addr", addr, "--grpc-addr", freeAddr(r.t),
		"--kafka-brokers", r.brokers(), "--cdc-topic-prefix", r.prefix, "--cdc-database", r.database,
		"--kafka-group", "itest-" + addr, "--log-level", "warn"}, extra...)
	return "http://" + addr, start(r.t, args...)
}

func (r *feedRig) send(topic string, key, value []byte) {
	r.t.Helper()
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key)}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	if _, _, err := r.producer.SendMessage(msg); err != nil {
		r.t.Fatalf("produce: %v", err)
	}
}

func stockKey(t *testing.T, p, w int64) []byte {
	k, err := debeziumtest.EncodeStockKey(debezium.Source{}, p, w, false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (r *feedRig) stockEvent(op domain.Op, p, w int64, qty int32, version uint64, schema bool) {
	r.t.Helper()
	row := &domain.StockRow{ProductID: p, WarehouseID: w, QtySalable: qty, Version: version}
	var before, after *domain.StockRow
	switch op {
	case domain.OpDelete:
		before = row
	case domain.OpUpdate:
		before, after = row, row
	default:
		after = row
	}
	src := debezium.Source{Name: r.prefix, DB: r.database, Table: "stock_items", TsMs: time.Now().UnixMilli()}
	v, err := debeziumtest.EncodeStock(op, before, after, src, schema, time.Now().UnixMicro())
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(r.stockTopic, stockKey(r.t, p, w), v)
}

func answers(t *testing.T, base string, id int64, want string) func() bool {
	return func() bool {
		_, body := get(t, fmt.Sprintf("%s/cache?product_id=%d", base, id))
		return body == want
	}
}

func inv(id int64, lines ...string) string {
	if len(lines) == 0 {
		return ""
	}
	parts := make([]string, len(lines))
	for i, l := range lines {
		code, qty, _ := strings.Cut(l, "=")
		parts[i] = fmt.Sprintf(`{"warehouse_code":"%s","qty_salable":%s}`, code, qty)
	}
	return fmt.Sprintf(`{"product_id":%d,"warehouses":[%s]}`, id, strings.Join(parts, ","))
}

func dbQueries(t *testing.T, base string) float64 {
	return metricValue(t, base, `gintoki_db_query_duration_seconds_count{outcome="ok"}`)
}

// Every apply rule, visible over HTTP, with events in every form the
// decoder accepts; the database is left as it was, so what the answers show
// can only have come from the feed.
func TestChangeFeedAppliesEveryRuleOverHTTP(t *testing.T) {
	r := newFeedRig(t)
	base, _ := r.serve()
	polltest.Until(t, 20*time.Second, "ready", func() bool { return ready(base) })
	// Ready can show a moment before the cache is used (the directory is
	// read again first), and a read meanwhile goes to the database: wait
	// until product 1 is held.
	polltest.Until(t, 3*time.Second, "product 1 from the DB, cached", func() bool {
		return answers(t, base, 1, inv(1, "WH-A=12", "WH-B=5"))() && metricValue(t, base, "gintoki_cache_entries") >= 1
	})
	q0 := dbQueries(t, base)

	// In-place update with the schema wrapper: no DB round trip.
	r.stockEvent(domain.OpUpdate, 1, 2, 100, 2, true)
	polltest.Until(t, 3*time.Second, "update applied", answers(t, base, 1, inv(1, "WH-A=100", "WH-B=5")))
	if q := dbQueries(t, base); q != q0 {
		t.Fatalf("an event for a cached product cost %v queries", q-q0)
	}
	// Older and duplicate events change nothing; a later one still applies.
	r.stockEvent(domain.OpUpdate, 1, 2, 7, 1, false)
	r.stockEvent(domain.OpUpdate, 1, 2, 999, 2, false)
	r.send(r.stockTopic, stockKey(t, 1, 2), []byte(`{"product_id":1,"warehouse_id":2,"qty_salable":55,"version":3,"updated_at":1,"__op":"u","__deleted":"false"}`)) // flattened
	polltest.Until(t, 3*time.Second, "flattened update after older ones", answers(t, base, 1, inv(1, "WH-A=55", "WH-B=5")))

	// Delete + tombstone, as a DELETE makes them (the before image carries
	// the version the row had, 3), then the update of version 3 delivered
	// again: stays deleted.
	r.stockEvent(domain.OpDelete, 1, 2, 55, 3, false)
	r.send(r.stockTopic, stockKey(t, 1, 2), nil)
	r.stockEvent(domain.OpUpdate, 1, 2, 55, 3, true)
	r.stockEvent(domain.OpUpdate, 1, 1, 6, 2, false) // marks the end of the sequence
	polltest.Until(t, 3*time.Second, "delete kept against an older re-delivery", answers(t, base, 1, inv(1, "WH-B=6")))

	// Insert over a cached not-found; snapshot reads with snapshot as string and as boolean.
	if code, _ := get(t, base+"/cache?product_id=50"); code != 404 {
		t.Fatalf("product 50 before insert: %d", code)
	}
	r.stockEvent(domain.OpCreate, 50, 1, 8, 1, false)
	polltest.Until(t, 3*time.Second, "insert over not-found", answers(t, base, 50, inv(50, "WH-B=8")))
	r.send(r.stockTopic, stockKey(t, 50, 2), []byte(`{"before":null,"after":{"product_id":50,"warehouse_id":2,"qty_salable":9,"version":1,"updated_at":1},"source":{"snapshot":"true","db":"x","table":"stock_items"},"op":"r","ts_ms":1}`))
	polltest.Until(t, 3*time.Second, "snapshot read (string)", answers(t, base, 50, inv(50, "WH-A=9", "WH-B=8")))
	r.send(r.stockTopic, stockKey(t, 50, 2), []byte(`{"before":null,"after":{"product_id":50,"warehouse_id":2,"qty_salable":10,"version":2,"updated_at":1},"source":{"snapshot":true},"op":"r","ts_ms":1}`))
	polltest.Until(t, 3*time.Second, "snapshot read (boolean)", answers(t, base, 50, inv(50, "WH-A=10", "WH-B=8")))

	// Warehouse deactivation with TINYINT(1) as 0, reactivation as true: no eviction.
	wkey, _ := debeziumtest.EncodeWarehouseKey(debezium.Source{}, 1, false)
	q1 := dbQueries(t, base)
	r.send(r.whTopic, wkey, []byte(`{"before":null,"after":{"id":1,"code":"WH-B","name":"b","is_active":0,"version":2,"updated_at":1},"source":{},"op":"u","ts_ms":1}`))
	polltest.Until(t, 3*time.Second, "deactivated", answers(t, base, 50, inv(50, "WH-A=10")))
	polltest.Until(t, 3*time.Second, "deactivated everywhere", func() bool { code, _ := get(t, base+"/cache?product_id=1"); return code == 404 })
	r.send(r.whTopic, wkey, []byte(`{"id":1,"code":"WH-Z","name":"b","is_active":true,"version":3,"updated_at":1,"__deleted":"false"}`))
	polltest.Until(t, 3*time.Second, "reactivated and renamed", answers(t, base, 50, inv(50, "WH-A=10", "WH-Z=8")))
	if q := dbQueries(t, base); q != q1 {
		t.Fatalf("warehouse changes cost %v queries", q-q1)
	}

	// Poison: a bad value with a readable key invalidates that key (the next
	// read reloads product 1 from the DB); a bad key and value is skipped and
	// the partition goes on.
	// The reload still merges what the feed delivered (the delete of WH-A,
	// the update of WH-Z), so the answer stays as the events left it.
	get(t, base+"/cache?product_id=1")
	qp := dbQueries(t, base)
	r.send(r.stockTopic, stockKey(t, 1, 1), []byte(`{"op":"u","after":{"product_id":"one"}}`))
	polltest.Until(t, 3*time.Second, "poisoned key reloaded from the DB", func() bool {
		_, body := get(t, base+"/cache?product_id=1")
		return dbQueries(t, base) > qp && body == inv(1, "WH-Z=6")
	})
	r.send(r.stockTopic, []byte("garbage"), []byte("\x00not json"))
	r.stockEvent(domain.OpUpdate, 50, 1, 77, 5, false)
	polltest.Until(t, 3*time.Second, "partition continues after poison", answers(t, base, 50, inv(50, "WH-A=10", "WH-Z=77")))
	if v := metricValue(t, base, fmt.Sprintf(`gintoki_cdc_events_total{outcome="poison",topic="%s"}`, r.stockTopic)); v != 2 {
		t.Fatalf("poison counted %v, want 2", v)
	}

	// Truncate drops the table's entries: product 50 exists only in the cache.
	trunc, _ := debeziumtest.EncodeStock(domain.OpTruncate, nil, nil, debezium.Source{Name: r.prefix, DB: r.database, Table: "stock_items"}, false, 0)
	r.send(r.stockTopic, nil, trunc)
	polltest.Until(t, 3*time.Second, "truncate flushed", func() bool { code, _ := get(t, base+"/cache?product_id=50"); return code == 404 })
}

// The start gap and broker outages: not ready and reading from the database
// until caught up; a short outage keeps the cache and loses no event; a
// long one flushes and bypasses it until the broker is back.
func TestChangeFeedReadinessAndOutages(t *testing.T) {
	r := newFeedRig(t)
	r.stopBroker()
	base, _ := r.serve("--max-staleness", "4s")
	polltest.Until(t, 20*time.Second, "http up", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// Start gap: no broker yet, so not ready; reads come from the DB and fill nothing.
	if ready(base) {
		t.Fatal("ready without a change feed")
	}
	// The warehouse directory's load is the node's first query; it runs
	// in the background at start and must not be counted as a read's.
	polltest.Until(t, 20*time.Second, "the warehouse directory loaded", func() bool { return dbQueries(t, base) >= 1 })
	q0 := dbQueries(t, base)
	for i := 0; i < 3; i++ {
		if code, body := get(t, base+"/cache?product_id=1"); code != 200 || body != inv(1, "WH-A=12", "WH-B=5") {
			t.Fatalf("read during the start gap: %d %s", code, body)
		}
	}
	if q := dbQueries(t, base) - q0; q != 3 {
		t.Fatalf("%v queries for 3 reads during the start gap, want 3 (no fill)", q)
	}
	r.startBroker()
	polltest.Until(t, 20*time.Second, "ready once the broker is up", func() bool { return ready(base) })

	// Cached and live.
	get(t, base+"/cache?product_id=1")
	r.stockEvent(domain.OpUpdate, 1, 2, 40, 2, false)
	polltest.Until(t, 3*time.Second, "live update", answers(t, base, 1, inv(1, "WH-A=40", "WH-B=5")))

	// Short outage (well under --max-staleness): the cache stays, the event
	// produced after the broker returns is applied, nothing is re-read.
	r.stopBroker()
	time.Sleep(1500 * time.Millisecond)
	r.startBroker()
	q1 := dbQueries(t, base)
	r.stockEvent(domain.OpUpdate, 1, 2, 41, 3, false)
	polltest.Until(t, 15*time.Second, "update after a short outage", answers(t, base, 1, inv(1, "WH-A=41", "WH-B=5")))
	if q := dbQueries(t, base) - q1; q != 0 {
		t.Fatalf("a short outage cost %v queries: the cache was dropped", q)
	}

	// Long outage: the cache is flushed and bypassed within max-staleness +
	// 10s; the node stays ready (the outage is the whole fleet's) and
	// answers from the database.
	r.stopBroker()
	polltest.Until(t, 14*time.Second, "bypass after max-staleness", func() bool { return metricValue(t, base, "gintoki_cache_bypassed") == 1 })
	if !ready(base) || metricValue(t, base, "gintoki_ready") != 1 {
		t.Fatal("a started node went not ready in a feed outage")
	}
	if metricValue(t, base, "gintoki_cdc_state") != 3 {
		t.Fatalf("state %v during the outage, want 3 (stale)", metricValue(t, base, "gintoki_cdc_state"))
	}
	q2 := dbQueries(t, base)
	if code, body := get(t, base+"/cache?product_id=1"); code != 200 || body != inv(1, "WH-A=12", "WH-B=5") {
		t.Fatalf("bypassed read: %d %s (the DB still holds the original row)", code, body)
	}
	if dbQueries(t, base)-q2 != 1 {
		t.Fatal("read during the outage did not go to the database")
	}
	r.startBroker()
	polltest.Until(t, 20*time.Second, "the cache in use again", func() bool { return metricValue(t, base, "gintoki_cache_bypassed") == 0 })
}
