package relaycheckpoint_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/adapter/relaycheckpoint"
	"github.com/gintoki/gintoki/infrastructure/kafkabroker"
	"github.com/gintoki/gintoki/usecase/relay"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startBroker(t *testing.T, opts ...kafkabroker.Option) *kafkabroker.Broker {
	t.Helper()
	b, err := kafkabroker.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newStore(t *testing.T, brokers []string, relayName, db, topic string) *relaycheckpoint.Store {
	t.Helper()
	s, err := relaycheckpoint.New(relaycheckpoint.Config{
		Brokers: brokers, Topic: topic, Relay: relayName, Database: db,
		Tune: func(c *sarama.Config) {
			c.Net.DialTimeout = time.Second
			c.Metadata.Retry.Max = 1
			c.Metadata.Retry.Backoff = 10 * time.Millisecond
			c.Producer.Retry.Max = 1
		},
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func cp(file string, p uint64) relay.Checkpoint {
	return relay.Checkpoint{Position: relay.Position{File: file, Pos: p, GTID: "0-1-" + strconv.FormatUint(p, 10)}, SavedAt: time.UnixMilli(1700000000000 + int64(p))}
}

func TestSaveAndLoad(t *testing.T) {
	b := startBroker(t)
	ctx := context.Background()
	s := newStore(t, b.Addrs(), "gintoki", "shop", "")
	if s.Topic() != relaycheckpoint.DefaultTopic {
		t.Fatalf("topic %q, want the default", s.Topic())
	}
	if _, found, err := s.Load(ctx); err != nil || found {
		t.Fatalf("Load on a new topic: found %v, %v", found, err)
	}
	for _, c := range []relay.Checkpoint{cp("mysql-bin.000001", 100), cp("mysql-bin.000001", 250), cp("mysql-bin.000002", 4)} {
		if err := s.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A second relay on the same topic keeps its own record.
	other := newStore(t, b.Addrs(), "gintoki", "billing", "")
	if err := other.Save(ctx, cp("mysql-bin.000009", 9)); err != nil {
		t.Fatal(err)
	}

	// A fresh store (a restarted process) reads the newest record of its key.
	got, found, err := newStore(t, b.Addrs(), "gintoki", "shop", "").Load(ctx)
	want := cp("mysql-bin.000002", 4)
	if err != nil || !found || got.Position != want.Position || !got.SavedAt.Equal(want.SavedAt) {
		t.Fatalf("Load: %+v found %v err %v; want %+v", got, found, err, want)
	}
	if got, _, _ := other.Load(ctx); got.Position.File != "mysql-bin.000009" {
		t.Errorf("the other relay loads %+v", got)
	}

	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Load(ctx); err != nil || found {
		t.Fatalf("Load after Delete: found %v, %v", found, err)
	}
}

func TestCreatesACompactedTopic(t *testing.T) {
	b := startBroker(t)
	s := newStore(t, b.Addrs(), "gintoki", "shop", "relay-offsets-test")
	if err := s.Save(context.Background(), cp("mysql-bin.000001", 5)); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	admin, err := sarama.NewClusterAdmin(b.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: "relay-offsets-test"}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(res) != 1 || res[0].ErrorCode != sarama.ErrNoError {
		t.Fatalf("describe the checkpoint topic: %v %+v", err, res)
	}
	for _, e := range res[0].Configs {
		if e.Name == "cleanup.policy" {
			if e.Value != "compact" {
				t.Fatalf("cleanup.policy=%s, want compact", e.Value)
			}
			return
		}
	}
	t.Fatal("the checkpoint topic has no cleanup.policy")
}

func TestKeyOnAPartitionedTopic(t *testing.T) {
	b := startBroker(t, kafkabroker.Topics(8, "offsets8"))
	ctx := context.Background()
	for _, db := range []string{"a", "b", "c", "d"} {
		if err := newStore(t, b.Addrs(), "p", db, "offsets8").Save(ctx, cp("bin."+db, 7)); err != nil {
			t.Fatal(err)
		}
	}
	for _, db := range []string{"a", "b", "c", "d"} {
		got, found, err := newStore(t, b.Addrs(), "p", db, "offsets8").Load(ctx)
		if err != nil || !found || got.Position.File != "bin."+db {
			t.Errorf("db %s: %+v %v %v", db, got, found, err)
		}
	}
}

// TestReconnectsAfterTheBrokerComesBack: failures are returned (the relay
// retries), and the store works again once the broker is back.
func TestReconnectsAfterTheBrokerComesBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	b, err := kafkabroker.Start(kafkabroker.Port(port), kafkabroker.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newStore(t, b.Addrs(), "gintoki", "shop", "")
	if err := s.Save(ctx, cp("mysql-bin.000001", 10)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := s.Save(ctx, cp("mysql-bin.000001", 20)); err == nil {
		t.Fatal("Save with the broker down succeeded")
	}
	b, err = kafkabroker.Start(kafkabroker.Port(port), kafkabroker.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.Save(ctx, cp("mysql-bin.000001", 30))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Save after the broker came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, found, err := s.Load(ctx)
	if err != nil || !found || got.Position.Pos != 30 {
		t.Fatalf("Load: %+v %v %v", got, found, err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []relaycheckpoint.Config{
		{Relay: "r", Database: "d"},
		{Brokers: []string{"x:1"}, Database: "d"},
		{Brokers: []string{"x:1"}, Relay: "r"},
		{Brokers: []string{"x:1"}, Relay: "r", Database: "d", Version: "ancient"},
	} {
		if _, err := relaycheckpoint.New(c, nil); err == nil {
			t.Errorf("New(%+v) accepted it", c)
		}
	}
}
