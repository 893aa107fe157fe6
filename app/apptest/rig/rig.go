// Package rig runs the real change pipeline for tests: MariaDB (a database
// of the test's own, binlog on) -> `gintoki relay` -> a Kafka-protocol
// broker in the test process -> `gintoki serve` read nodes, optionally
// behind `gintoki gateway`. The relay, the nodes and the gateway are the
// test binary started again with a gintoki command line (package apptest),
// so a test can SIGKILL, SIGTERM or SIGSTOP them; the broker restarts on
// its port and data directory with its logs and committed offsets, or
// comes back empty, as a replaced cluster would.
//
// A test package using it starts its TestMain with
// apptest.RunAsChild(rig.RunGintoki).
package rig

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/kafkaconsumer"
	"github.com/gintoki/gintoki/adapter/kafkaproducer"
	"github.com/gintoki/gintoki/app/apptest"
	"github.com/gintoki/gintoki/app/cli"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
)

// StartLimit bounds how long a process may take to come up: one started
// under the race detector on a loaded machine can take a while. No test
// measures time against it.
const StartLimit = 90 * time.Second

// RunGintoki runs the gintoki command line the payload holds (a JSON list
// of arguments), as the gintoki binary would. The flags say everything: the
// environment of the test run does not configure it.
func RunGintoki(payload string) int {
	var args []string
	if err := json.Unmarshal([]byte(payload), &args); err != nil {
		fmt.Fprintln(os.Stderr, "child arguments:", err)
		return cli.ExitUsage
	}
	return cli.Main(args, cli.Env{Getenv: func(string) string { return "" }, Stdout: os.Stdout, Stderr: os.Stderr})
}

// StartGintoki runs a gintoki command line as a child process (see
// RunGintoki).
func StartGintoki(t testing.TB, args ...string) *apptest.Child {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Start(t, string(raw))
}

// Options shape a Pipeline.
type Options struct {
	// Prefix is the topic prefix; it also names the relay's checkpoint
	// topic, the consumer groups and the Kafka client ids.
	Prefix string
	// Nodes is how many read nodes there are.
	Nodes int
	// Partitions of each change topic.
	Partitions int32
	// NodeArgs are more `gintoki serve` flags; they win over the rig's.
	NodeArgs []string
	// Schema is a schema mapping file given to the relay and the nodes
	// (--schema): the change topics are then named after its tables. Empty:
	// gintoki's own tables.
	Schema string
}

// Pipeline is the database, the broker, the relay process and the read
// node processes of one test.
type Pipeline struct {
	T          testing.TB
	DSN        database.DSN
	DB         *sql.DB
	StockTopic string
	WhTopic    string
	// RelayAddr serves the relay's /metrics and /readyz.
	RelayAddr string
	Relay     *apptest.Child
	Nodes     []*Node
	// Client is for the processes' HTTP endpoints.
	Client *http.Client

	prefix     string
	partitions int32
	nodeArgs   []string
	schema     string
	brokerPort int
	dataDir    string
	broker     *kafkabroker.Broker
	// autoCreate: the broker creates topics on request (after
	// RestartBrokerEmpty).
	autoCreate bool
	serverID   int
}

// Node is one read node: its addresses and consumer group stay the same
// across restarts.
type Node struct {
	Name     string
	HTTPAddr string
	GRPCAddr string
	Group    string
	// Args are more `gintoki serve` flags of this node alone; they win over
	// Options.NodeArgs.
	Args []string
	// Child is the running process (the latest one after a restart).
	Child *apptest.Child
}

// Base is the node's HTTP base URL.
func (n *Node) Base() string { return "http://" + n.HTTPAddr }

// New prepares a pipeline on the database dsn and starts its broker; the
// relay and the nodes are started by the test. When the test fails, the
// processes' last output is logged.
func New(t testing.TB, dsn database.DSN, gdb *gorm.DB, o Options) *Pipeline {
	t.Helper()
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	m := domain.DefaultMapping()
	if o.Schema != "" {
		if m, err = config.LoadMapping(o.Schema); err != nil {
			t.Fatal(err)
		}
		if m.Warehouses == nil {
			t.Fatalf("schema mapping %s: the rig needs a warehouses table (its topic is part of every pipeline)", o.Schema)
		}
	}
	p := &Pipeline{
		T: t, DSN: dsn, DB: db,
		StockTopic: kafkaproducer.ChangeTopic(o.Prefix, dsn.Database, m.Stock.Table),
		WhTopic:    kafkaproducer.ChangeTopic(o.Prefix, dsn.Database, m.Warehouses.Table),
		RelayAddr:  apptest.FreeAddr(t),
		Client:     &http.Client{Timeout: 10 * time.Second},
		prefix:     o.Prefix,
		partitions: o.Partitions,
		nodeArgs:   o.NodeArgs,
		schema:     o.Schema,
		brokerPort: apptest.FreePort(t),
		dataDir:    t.TempDir(),
		// Unique among the server's replicas: other tests run relays too.
		serverID: 100000 + rand.IntN(1<<30),
	}
	for i := range o.Nodes {
		name := fmt.Sprintf("node-%d", i+1)
		p.Nodes = append(p.Nodes, &Node{
			Name:     name,
			HTTPAddr: apptest.FreeAddr(t),
			GRPCAddr: apptest.FreeAddr(t),
			Group:    fmt.Sprintf("%s-%s-%s", o.Prefix, dsn.Database, name),
		})
	}
	p.StartBroker()
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
		if p.Relay != nil {
			t.Logf("relay's last output:\n%s", p.Relay.Stderr())
		}
		for _, n := range p.Nodes {
			if n.Child != nil {
				t.Logf("%s's last output:\n%s", n.Name, n.Child.Stderr())
			}
		}
	})
	return p
}

// Brokers is the broker's bootstrap address.
func (p *Pipeline) Brokers() string { return fmt.Sprintf("127.0.0.1:%d", p.brokerPort) }

// StartBroker starts the broker on its port and data directory: after a
// StopBroker it comes back with its logs and committed offsets.
func (p *Pipeline) StartBroker() {
	p.startBroker(kafkabroker.Topics(p.partitions, p.StockTopic, p.WhTopic))
}

// RestartBrokerEmpty replaces the broker with an empty one on the same
// port, as a redeployed or replaced cluster: no topics, no committed
// offsets, and automatic topic creation on (Apache Kafka's default), so a
// topic is back once something writes to it (or, wrongly, once anything
// asks for it). A StartBroker after it restarts this one.
func (p *Pipeline) RestartBrokerEmpty() {
	if p.broker != nil {
		p.StopBroker()
	}
	p.dataDir = p.T.TempDir()
	p.autoCreate = true
	p.startBroker()
}

func (p *Pipeline) startBroker(opts ...kafkabroker.Option) {
	opts = append(opts, kafkabroker.Port(p.brokerPort), kafkabroker.DataDir(p.dataDir))
	if p.autoCreate {
		opts = append(opts, kafkabroker.AutoCreateTopics(), kafkabroker.Partitions(int(max(p.partitions, 1))))
	}
	b, err := kafkabroker.Start(opts...)
	if err != nil {
		p.T.Fatal(err)
	}
	p.broker = b
}

// StopBroker closes the broker, writing its state out.
func (p *Pipeline) StopBroker() {
	p.broker.Close()
	p.broker = nil
}

// RelayBase is the base URL of the relay's metrics listener.
func (p *Pipeline) RelayBase() string { return "http://" + p.RelayAddr }

// StartRelay starts `gintoki relay` and returns once it streams. The first
// start publishes the database's rows (snapshot); later starts resume from
// the checkpoint in the broker.
func (p *Pipeline) StartRelay() {
	p.T.Helper()
	p.SpawnRelay()
	p.Relay.WaitUntil(p.T, "relay streaming", StartLimit, func() bool { return p.OK(p.RelayBase() + "/readyz") })
}

// SpawnRelay starts `gintoki relay` and returns at once, without waiting
// for anything: for a test that stops it before it is up.
func (p *Pipeline) SpawnRelay() {
	p.T.Helper()
	p.Relay = StartGintoki(p.T, p.relayArgs()...)
}

// relayArgs is the relay's command line.
func (p *Pipeline) relayArgs() []string {
	return append([]string{"relay", "--db", "mysql://" + p.DSN.Raw, "--kafka-brokers", p.Brokers(),
		"--cdc-topic-prefix", p.prefix, "--metrics-addr", p.RelayAddr, "--server-id", strconv.Itoa(p.serverID),
		"--relay-checkpoint-topic", p.prefix + "-ckpt-" + p.DSN.Database, "--relay-checkpoint-interval", "500ms",
		"--kafka-client-id", p.prefix + "-relay", "--log-level", "warn", "--log-format", "text"}, p.schemaArgs()...)
}

// schemaArgs is --schema, when the pipeline has a mapping.
func (p *Pipeline) schemaArgs() []string {
	if p.schema == "" {
		return nil
	}
	return []string{"--schema", p.schema}
}

// StartNode starts `gintoki serve` for n and returns once it answers
// /healthz; it becomes ready (serving from its cache) once its consumer has
// caught up, and reads from the database until then.
func (p *Pipeline) StartNode(n *Node) {
	p.T.Helper()
	args := []string{"serve", "--db", "mysql://" + p.DSN.Raw, "--http-addr", n.HTTPAddr, "--grpc-addr", n.GRPCAddr,
		"--kafka-brokers", p.Brokers(), "--cdc-topic-prefix", p.prefix, "--cdc-database", p.DSN.Database,
		"--kafka-group", n.Group, "--kafka-client-id", p.prefix + "-" + n.Name,
		// Nothing but the change feed may correct the cache: no
		// inspector, and a TTL longer than any run.
		"--inspect-interval", "0", "--cache-ttl", "48h",
		"--cache-size-mb", "32", "--db-max-open", "6", "--db-queue-timeout", "2s", "--db-timeout", "5s",
		"--log-level", "warn", "--log-format", "text"}
	args = append(append(append(args, p.schemaArgs()...), p.nodeArgs...), n.Args...)
	n.Child = StartGintoki(p.T, args...)
	n.Child.WaitUntil(p.T, n.Name+" answering", StartLimit, func() bool { return p.OK(n.Base() + "/healthz") })
}

// OK reports whether url answers 200.
func (p *Pipeline) OK(url string) bool {
	code, _, err := p.Get(url)
	return err == nil && code == http.StatusOK
}

// Get fetches url: its status and body.
func (p *Pipeline) Get(url string) (int, string, error) {
	resp, err := p.Client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Metrics is the Prometheus text a process serves at base, "" when it
// does not answer.
func (p *Pipeline) Metrics(base string) string {
	code, body, err := p.Get(base + "/metrics")
	if err != nil || code != http.StatusOK {
		return ""
	}
	return body
}

// BinlogPosition is where the server's binlog ends now.
func (p *Pipeline) BinlogPosition() (fileIndex, pos uint64) {
	rows, err := p.DB.Query("SHOW MASTER STATUS")
	if err != nil {
		p.T.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		p.T.Fatal(err)
	}
	if !rows.Next() {
		p.T.Fatal("SHOW MASTER STATUS: no row (is the binlog on?)")
	}
	vals := make([]sql.RawBytes, len(cols))
	dst := make([]any, len(cols))
	for i := range vals {
		dst[i] = &vals[i]
	}
	if err := rows.Scan(dst...); err != nil {
		p.T.Fatal(err)
	}
	file := string(vals[0])
	fileIndex, err = strconv.ParseUint(file[strings.LastIndexByte(file, '.')+1:], 10, 64)
	if err != nil {
		p.T.Fatalf("binlog file %q: %v", file, err)
	}
	if pos, err = strconv.ParseUint(string(vals[1]), 10, 64); err != nil {
		p.T.Fatalf("binlog position %q: %v", vals[1], err)
	}
	return fileIndex, pos
}

// Drain waits until the relay has published everything the binlog holds
// now and every node is ready with no lag on any partition.
func (p *Pipeline) Drain(limit time.Duration) {
	p.T.Helper()
	p.DrainNodes(limit, p.Nodes)
}

// DrainNodes is Drain for some of the nodes (a test that left others down).
func (p *Pipeline) DrainNodes(limit time.Duration, nodes []*Node) {
	p.T.Helper()
	file, pos := p.BinlogPosition()
	p.Relay.WaitUntil(p.T, fmt.Sprintf("relay caught up with the binlog (file %d position %d)", file, pos), limit, func() bool {
		text := p.Metrics(p.RelayBase())
		f, ok1 := apptest.Metric(text, "gintoki_relay_binlog_file_index")
		at, ok2 := apptest.Metric(text, "gintoki_relay_binlog_position_bytes")
		return ok1 && ok2 && (uint64(f) > file || uint64(f) == file && uint64(at) >= pos)
	})
	caughtUp := float64(time.Now().UnixNano()) / 1e9
	for _, n := range nodes {
		// What the node showed last, logged when the wait fails.
		var last string
		waited := false
		defer func() {
			if !waited {
				p.T.Logf("%s last showed: %s", n.Name, last)
			}
		}()
		n.Child.WaitUntil(p.T, n.Name+" ready with no lag", limit, func() bool {
			code, body, err := p.Get(n.Base() + "/readyz")
			if err != nil || code != http.StatusOK {
				last = fmt.Sprintf("readyz %d %s %v", code, body, err)
				return false
			}
			text := p.Metrics(n.Base())
			contact, ok := apptest.Metric(text, kafkaconsumer.LastContactName)
			lag := apptest.MetricSum(text, kafkaconsumer.LagName)
			last = fmt.Sprintf("ready, last broker contact %.3f (want after %.3f), lag %v", contact, caughtUp, lag)
			return ok && contact > caughtUp && strings.Contains(text, kafkaconsumer.LagName+"{") && lag == 0
		})
		waited = true
	}
}
