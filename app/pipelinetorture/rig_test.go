package pipelinetorture

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
)

const (
	topicPrefix = "torture"
	partitions  = 3
	// A process started under the race detector on a loaded machine can
	// take a while to come up; no test measures time against this.
	startLimit = 90 * time.Second
)

// pipeline is the database, the broker, the relay process and the read
// node processes of one run.
type pipeline struct {
	t          *testing.T
	dsn        database.DSN
	db         *sql.DB
	stockTopic string
	whTopic    string
	brokerPort int
	dataDir    string
	broker     *kafkabroker.Broker
	relayAddr  string
	serverID   int
	relay      *apptest.Child
	nodes      []*node
	client     *http.Client
}

// node is one read node: its address and consumer group stay the same
// across restarts.
type node struct {
	name     string
	httpAddr string
	grpcAddr string
	group    string
	child    *apptest.Child
	seen     *seen
}

func (n *node) base() string { return "http://" + n.httpAddr }

func newPipeline(t *testing.T, dsn database.DSN, gdb *gorm.DB, nodes int) *pipeline {
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{
		t: t, dsn: dsn, db: db,
		stockTopic: kafkaproducer.ChangeTopic(topicPrefix, dsn.Database, "stock_items"),
		whTopic:    kafkaproducer.ChangeTopic(topicPrefix, dsn.Database, "warehouses"),
		brokerPort: apptest.FreePort(t),
		dataDir:    t.TempDir(),
		relayAddr:  apptest.FreeAddr(t),
		// Unique among the server's replicas: other tests run relays too.
		serverID: 100000 + rand.IntN(1<<30),
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	for i := range nodes {
		p.nodes = append(p.nodes, &node{
			name:     fmt.Sprintf("node-%d", i+1),
			httpAddr: apptest.FreeAddr(t),
			grpcAddr: apptest.FreeAddr(t),
			group:    fmt.Sprintf("torture-%s-node-%d", dsn.Database, i+1),
			seen:     &seen{rows: map[rowKey]uint64{}, whs: map[int64]uint64{}},
		})
	}
	p.startBroker()
	t.Cleanup(func() {
		if p.broker != nil {
			p.broker.Close()
		}
	})
	// Registered after the broker's cleanup, so it runs first: the
	// processes' last words, when something failed.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if p.relay != nil {
			t.Logf("relay's last output:\n%s", p.relay.Stderr())
		}
		for _, n := range p.nodes {
			if n.child != nil {
				t.Logf("%s's last output:\n%s", n.name, n.child.Stderr())
			}
		}
	})
	return p
}

func (p *pipeline) brokers() string { return fmt.Sprintf("127.0.0.1:%d", p.brokerPort) }

// startBroker starts the broker on its port and data directory: after a
// Close it comes back with its logs and committed offsets.
func (p *pipeline) startBroker() {
	b, err := kafkabroker.Start(kafkabroker.Port(p.brokerPort), kafkabroker.DataDir(p.dataDir),
		kafkabroker.Topics(partitions, p.stockTopic, p.whTopic))
	if err != nil {
		p.t.Fatal(err)
	}
	p.broker = b
}

func (p *pipeline) stopBroker() {
	p.broker.Close()
	p.broker = nil
}

func startGintoki(t *testing.T, args ...string) *apptest.Child {
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Start(t, string(raw))
}

// startRelay starts `gintoki relay` and returns once it streams. The first
// start publishes the seeded rows (snapshot); later starts resume from the
// checkpoint in the broker.
func (p *pipeline) startRelay() {
	p.relay = startGintoki(p.t, "relay", "--db", "mysql://"+p.dsn.Raw, "--kafka-brokers", p.brokers(),
		"--cdc-topic-prefix", topicPrefix, "--metrics-addr", p.relayAddr, "--server-id", strconv.Itoa(p.serverID),
		"--relay-checkpoint-topic", "torture-ckpt-"+p.dsn.Database, "--relay-checkpoint-interval", "500ms",
		"--kafka-client-id", "torture-relay", "--log-level", "warn", "--log-format", "text")
	p.relay.WaitUntil(p.t, "relay streaming", startLimit, func() bool { return p.ok("http://" + p.relayAddr + "/readyz") })
}

// startNode starts `gintoki serve` for n and returns once it answers
// /healthz; it becomes ready (serving from its cache) once its consumer has
// caught up, and reads from the database until then.
func (p *pipeline) startNode(n *node) {
	n.child = startGintoki(p.t, "serve", "--db", "mysql://"+p.dsn.Raw, "--http-addr", n.httpAddr, "--grpc-addr", n.grpcAddr,
		"--kafka-brokers", p.brokers(), "--cdc-topic-prefix", topicPrefix, "--cdc-database", p.dsn.Database,
		"--kafka-group", n.group, "--kafka-client-id", "torture-"+n.name,
		// Nothing but the change feed may correct the cache: no
		// inspector, and a TTL longer than any run.
		"--inspect-interval", "0", "--cache-ttl", "48h",
		"--cache-size-mb", "32", "--db-max-open", "6", "--db-queue-timeout", "2s", "--db-timeout", "5s",
		"--log-level", "warn", "--log-format", "text")
	n.child.WaitUntil(p.t, n.name+" answering", startLimit, func() bool { return p.ok(n.base() + "/healthz") })
}

// ok reports whether url answers 200.
func (p *pipeline) ok(url string) bool {
	code, _, err := p.get(url)
	return err == nil && code == http.StatusOK
}

func (p *pipeline) get(url string) (int, string, error) {
	resp, err := p.client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (p *pipeline) metrics(base string) string {
	code, body, err := p.get(base + "/metrics")
	if err != nil || code != http.StatusOK {
		return ""
	}
	return body
}

// binlogPosition is where the server's binlog ends now.
func (p *pipeline) binlogPosition() (fileIndex, pos uint64) {
	rows, err := p.db.Query("SHOW MASTER STATUS")
	if err != nil {
		p.t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		p.t.Fatal(err)
	}
	if !rows.Next() {
		p.t.Fatal("SHOW MASTER STATUS: no row (is the binlog on?)")
	}
	vals := make([]sql.RawBytes, len(cols))
	dst := make([]any, len(cols))
	for i := range vals {
		dst[i] = &vals[i]
	}
	if err := rows.Scan(dst...); err != nil {
		p.t.Fatal(err)
	}
	file := string(vals[0])
	fileIndex, err = strconv.ParseUint(file[strings.LastIndexByte(file, '.')+1:], 10, 64)
	if err != nil {
		p.t.Fatalf("binlog file %q: %v", file, err)
	}
	if pos, err = strconv.ParseUint(string(vals[1]), 10, 64); err != nil {
		p.t.Fatalf("binlog position %q: %v", vals[1], err)
	}
	return fileIndex, pos
}

// drain waits until the relay has published everything the binlog holds
// now and every node is ready with no lag on any partition.
func (p *pipeline) drain(limit time.Duration) {
	p.t.Helper()
	file, pos := p.binlogPosition()
	relayURL := "http://" + p.relayAddr
	p.relay.WaitUntil(p.t, fmt.Sprintf("relay caught up with the binlog (file %d position %d)", file, pos), limit, func() bool {
		text := p.metrics(relayURL)
		f, ok1 := apptest.Metric(text, "gintoki_relay_binlog_file_index")
		at, ok2 := apptest.Metric(text, "gintoki_relay_binlog_position_bytes")
		return ok1 && ok2 && (uint64(f) > file || uint64(f) == file && uint64(at) >= pos)
	})
	caughtUp := float64(time.Now().UnixNano()) / 1e9
	for _, n := range p.nodes {
		n.child.WaitUntil(p.t, n.name+" ready with no lag", limit, func() bool {
			if !p.ok(n.base() + "/readyz") {
				return false
			}
			text := p.metrics(n.base())
			contact, ok := apptest.Metric(text, kafkaconsumer.LastContactName)
			return ok && contact > caughtUp && strings.Contains(text, kafkaconsumer.LagName+"{") &&
				apptest.MetricSum(text, kafkaconsumer.LagName) == 0
		})
	}
}

// eventCounts sums a node's gintoki_cdc_events_total by outcome.
func eventCounts(text string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, kafkaconsumer.EventsTotalName+"{") {
			continue
		}
		_, rest, ok := strings.Cut(l, `outcome="`)
		if !ok {
			continue
		}
		outcome, _, _ := strings.Cut(rest, `"`)
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err == nil {
			out[outcome] += v
		}
	}
	return out
}

// disruptions counts what a run did to the processes.
type disruptions struct {
	relayKills, nodeTerms, nodeKills, brokerRestarts int
}
