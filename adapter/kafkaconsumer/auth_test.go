package kafkaconsumer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
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
	certPEM, keyPEM := selfSigned(t)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(1, testStockTopic, testWarehouseTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, c.ListenAddrs(), uniqueGroup(t), func(cfg *Config, _ *Options) {
		cfg.TLS = TLSConfig{Enable: true, CAFile: caPath}
	})
	h.start(t)
	if s := h.waitSessions(t, 1); !s.complete {
		t.Error("session over TLS not complete")
	}
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gintoki test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
