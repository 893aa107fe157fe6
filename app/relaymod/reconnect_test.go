package relaymod

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gintoki/gintoki/adapter/debezium"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
)

// TestRelayRidesOutMySQLAndKafkaOutages: the binlog connection is killed
// on the server, then the broker goes away and comes back; the relay
// reconnects each time and every update reaches the topic. Events carry
// the schema wrapper here (--cdc-with-schema).
func TestRelayRidesOutMySQLAndKafkaOutages(t *testing.T) {
	t.Parallel()
	dsn, gdb := dbtest.MySQLDSN(t)
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	topic := kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "stock_items")
	brokerOpts := []kafkabroker.Option{kafkabroker.Port(port), kafkabroker.DataDir(dir),
		kafkabroker.Topics(2, topic, kafkaproducer.ChangeTopic(testPrefix, dsn.Database, "warehouses"))}
	broker, err := kafkabroker.Start(brokerOpts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dsn: dsn, gdb: gdb, db: db, broker: broker, cfg: testConfig(dsn, broker.Addrs())}
	h.exec(fmt.Sprintf("INSERT INTO stock_items VALUES (1,1,0,0,'%s')", t1))
	cfg := h.cfg
	cfg.WithSchema = true
	cfg.Snapshot = "never"
	rr := startRelay(t, cfg)

	version := 0
	update := func(n int) {
		for range n {
			version++
			h.exec(fmt.Sprintf("UPDATE stock_items SET qty_salable=%d, version=%d WHERE product_id=1", version, version))
		}
	}
	update(20)
	waitForVersions(t, broker.Addrs(), topic, version)

	// MySQL drops the replication connection.
	var id int64
	if err := db.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND DB = ?", dsn.Database).Scan(&id); err != nil {
		t.Fatalf("find the relay's binlog connection: %v", err)
	}
	h.exec(fmt.Sprintf("KILL %d", id))
	update(20)
	waitForVersions(t, broker.Addrs(), topic, version)
	waitFor(t, "a counted mysql error", func() bool { return counted(t, rr.reg, "gintoki_relay_errors_total", "stage", "mysql") >= 1 }, nil)

	// Kafka goes away while changes keep coming, then returns.
	broker.Close()
	update(20)
	waitFor(t, "a counted kafka error", func() bool { return counted(t, rr.reg, "gintoki_relay_errors_total", "stage", "kafka") >= 1 }, nil)
	broker, err = kafkabroker.Start(brokerOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	update(20)
	seen := waitForVersions(t, broker.Addrs(), topic, version)
	t.Logf("%d updates across a killed binlog connection and a broker restart; %d distinct on the topic", version, len(seen))

	for _, m := range readAll(t, broker.Addrs(), topic) {
		env, err := debezium.DecodeEnvelope(m.Value)
		if err != nil || !env.Wrapped || env.Form != debezium.FormWrapped {
			t.Fatalf("offset %d: %v; want a schema-wrapped event", m.Offset, err)
		}
		if p, w, err := debezium.DecodeStockKey(m.Key); err != nil || p != 1 || w != 1 {
			t.Fatalf("key %s: %v", m.Key, err)
		}
	}
	waitFor(t, "streaming again", func() bool { return rr.relay.Ready() == nil }, rr.done)
	if lag := gauge(t, rr.reg, "gintoki_relay_lag_seconds"); lag < 0 || lag > time.Minute.Seconds() {
		t.Errorf("lag gauge %v", lag)
	}
}
