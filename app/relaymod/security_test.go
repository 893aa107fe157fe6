package relaymod

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/gintoki/gintoki/infrastructure/tlsfiles/tlstest"
	"github.com/gintoki/gintoki/usecase/relay"
)

func TestRelayTakesServesKafkaSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "sasl")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(append(minimal, "--kafka-tls", "--kafka-tls-ca", "ca.pem", "--kafka-tls-cert", "c.pem", "--kafka-tls-key", "k.pem",
		"--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-user", "relay", "--kafka-sasl-password-file", pwFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.KafkaSecurity
	if !k.TLS || k.TLSCAFile != "ca.pem" || k.TLSCertFile != "c.pem" || k.TLSKeyFile != "k.pem" ||
		k.SASLMechanism != "SCRAM-SHA-512" || k.SASLUser != "relay" || k.SASLPassword != "s3cret" {
		t.Fatalf("kafka security %+v", k)
	}
	if _, err := parse(append(minimal, "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-password", "x", "--kafka-sasl-password-file", pwFile), nil); err == nil {
		t.Fatal("a password given twice was accepted")
	}
}

func TestRelayDBPasswordFile(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse([]string{"--db", "mysql://relay@tcp(db:3306)/shop", "--kafka-brokers", "k:9092", "--db-password-file", pwFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.DSN, "relay:from-file@tcp(db:3306)/shop") {
		t.Fatalf("DSN %q does not carry the password of the file", c.DSN)
	}
	_, err = parse(append(minimal, "--db-password-file", pwFile), nil)
	if err == nil || strings.Contains(err.Error(), "pw@") {
		t.Fatalf("a DSN with a password and a password file: err %v", err)
	}
}

// The relay's two Kafka clients (publisher and checkpoint store) reach a
// broker that requires TLS and SCRAM, and are refused without credentials.
func TestRelayKafkaClientsOverTLSAndSASL(t *testing.T) {
	ca := tlstest.NewCA(t, "kafka")
	sp := ca.Server(t, "broker", "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(sp.CertFile, sp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "relay", "s3cret"), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	base := append([]string{"--db", "mysql://relay:pw@tcp(db:3306)/shop", "--kafka-brokers", strings.Join(cluster.ListenAddrs(), ",")},
		"--kafka-tls", "--kafka-tls-ca", ca.CertFile)

	c, err := parse(append(base, "--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-user", "relay", "--kafka-sasl-password", "s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tune, err := newKafkaTuning(c, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	pub, closePub, err := newPublisher(c, nil, tune, quietLog())
	if err != nil {
		t.Fatalf("publisher over TLS and SCRAM: %v", err)
	}
	t.Cleanup(closePub)
	if pub == nil {
		t.Fatal("no publisher")
	}
	store, closeStore, err := newStore(c, quietLog(), tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := relay.Checkpoint{Position: relay.Position{File: "mysql-bin.000001", Pos: 42}, SavedAt: time.UnixMilli(1700000000000)}
	if err := store.Save(ctx, want); err != nil {
		t.Fatalf("checkpoint over TLS and SCRAM: %v", err)
	}
	got, found, err := store.Load(ctx)
	if err != nil || !found || got.Position != want.Position {
		t.Fatalf("Load = %+v, %v, %v", got, found, err)
	}

	// The wrong password is refused.
	bad, err := parse(append(base, "--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-user", "relay", "--kafka-sasl-password", "wrong"), nil)
	if err != nil {
		t.Fatal(err)
	}
	badTune, err := newKafkaTuning(bad, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	badStore, closeBadStore, err := newStore(bad, quietLog(), fast(badTune))
	if err == nil {
		defer closeBadStore()
		err = badStore.Save(ctx, want)
	}
	if err == nil {
		t.Fatal("a client with the wrong SASL password saved a checkpoint")
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fast gives up on a refusing broker after one quick retry.
func fast(tune kafkaTuning) kafkaTuning {
	return func(sc *sarama.Config) {
		tune(sc)
		sc.Metadata.Retry.Max = 1
		sc.Metadata.Retry.Backoff = 10 * time.Millisecond
	}
}
