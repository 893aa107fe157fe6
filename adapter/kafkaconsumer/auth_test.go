package kafkaconsumer

import (
	"crypto/tls"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/gintoki/gintoki/infrastructure/tlsfiles/tlstest"
)

// Each mechanism against a broker that requires it.
func TestSASLAgainstBroker(t *testing.T) {
	for _, mech := range []string{sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "gintoki", "s3cret"),
				kfake.SeedTopics(1, testStockTopic, testWarehouseTopic))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			h := newHarness(t, c.ListenAddrs(), uniqueGroup(t), withSASL(SASLConfig{Mechanism: mech, User: "gintoki", Password: "s3cret"}))
			h.start(t)
			if s := h.waitSessions(t, 1); !s.complete {
				t.Error("session over SASL not complete")
			}
		})
	}
}

func TestTLSAgainstBroker(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "kafka")
	sp := ca.Server(t, "broker", "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(sp.CertFile, sp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(1, testStockTopic, testWarehouseTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h := newHarness(t, c.ListenAddrs(), uniqueGroup(t), func(cfg *Config, _ *Options) {
		cfg.TLS = TLSConfig{Enable: true, CAFile: ca.CertFile}
	})
	h.start(t)
	if s := h.waitSessions(t, 1); !s.complete {
		t.Error("session over TLS not complete")
	}
}
