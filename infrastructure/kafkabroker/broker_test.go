package kafkabroker

import (
	"net"
	"strconv"
	"testing"

	"github.com/IBM/sarama"
)

func newClient(t *testing.T, addrs []string) sarama.Client {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Metadata.AllowAutoTopicCreation = false
	c, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func partitions(t *testing.T, c sarama.Client, topic string) int {
	t.Helper()
	if err := c.RefreshMetadata(topic); err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	ps, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	return len(ps)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestStartSeedsTopicsOnFixedPort(t *testing.T) {
	port := freePort(t)
	b, err := Start(Port(port), Topics(3, "a"), Topics(1, "b"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer b.Close()
	addrs := b.Addrs()
	if len(addrs) != 1 || addrs[0] != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("Addrs = %v, want one address on port %d", addrs, port)
	}
	c := newClient(t, addrs)
	if n := partitions(t, c, "a"); n != 3 {
		t.Errorf("topic a has %d partitions, want 3", n)
	}
	if n := partitions(t, c, "b"); n != 1 {
		t.Errorf("topic b has %d partitions, want 1", n)
	}
	if err := c.RefreshMetadata("unknown"); err == nil {
		t.Error("a topic nobody created exists; topics must not be auto-created by default")
	}
}

func TestAutoCreateTopicsUsesDefaultPartitions(t *testing.T) {
	b, err := Start(AutoCreateTopics(), Partitions(4))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Metadata.AllowAutoTopicCreation = true
	c, err := sarama.NewClient(b.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := partitions(t, c, "made-on-demand"); n != 4 {
		t.Errorf("auto-created topic has %d partitions, want 4", n)
	}
}

func TestCreateTopicsIsIdempotent(t *testing.T) {
	b, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 2 {
		if err := CreateTopics(b.Addrs(), 2, "x", "y"); err != nil {
			t.Fatalf("CreateTopics: %v", err)
		}
	}
	c := newClient(t, b.Addrs())
	for _, topic := range []string{"x", "y"} {
		if n := partitions(t, c, topic); n != 2 {
			t.Errorf("%s has %d partitions, want 2", topic, n)
		}
	}
	if err := CreateTopics(b.Addrs(), 0, "z"); err == nil {
		t.Error("zero partitions accepted")
	}
}

func TestDataDirKeepsMessagesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	b, err := Start(Port(port), DataDir(dir), Topics(1, "kept"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(b.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "kept", Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close()
	b.Close()
	b.Close() // a second Close is harmless

	b2, err := Start(Port(port), DataDir(dir), Topics(1, "kept"))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer b2.Close()
	c := newClient(t, b2.Addrs())
	end, err := c.GetOffset("kept", 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	if end != 3 {
		t.Errorf("end offset after restart = %d, want 3", end)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"negative port":   Port(-1),
		"port too big":    Port(70000),
		"zero partitions": Partitions(0),
	} {
		if b, err := Start(opt); err == nil {
			b.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if b, err := Start(Port(ln.Addr().(*net.TCPAddr).Port)); err == nil {
		b.Close()
		t.Error("Start on a port in use succeeded")
	}
}
