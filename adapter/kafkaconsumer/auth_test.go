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
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user", password
// "pencil".
func TestSCRAMSHA256MatchesRFC7677(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	c.nonceFn = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
	if err := c.Begin("user", "pencil", ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.Step("")
	if err != nil || first != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first = %q, %v", first, err)
	}
	final, err := c.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if err != nil || final != want {
		t.Fatalf("client-final = %q, %v\nwant %q", final, err, want)
	}
	if c.Done() {
		t.Fatal("done before the server proved itself")
	}
	if _, err := c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="); err != nil {
		t.Fatalf("server-final: %v", err)
	}
	if !c.Done() {
		t.Error("not done after a valid server signature")
	}
}

func TestSCRAMRejectsBadServers(t *testing.T) {
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	tests := []struct {
		name        string
		serverFirst string
		serverFinal string
		want        string
	}{
		{"nonce not extended", "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"nonce not extended at all", "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"bad salt", "r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", "", "salt"},
		{"zero iterations", "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "", "iteration"},
		{"huge iterations", "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999", "", "iteration"},
		{"mandatory extension", "m=ext," + serverFirst, "", "extension"},
		{"malformed", "garbage", "", "malformed"},
		{"wrong server signature", serverFirst, "v=AAAA", "signature"},
		{"server error", serverFirst, "e=invalid-proof", "invalid-proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newSCRAMClient(sha256Hash)
			c.nonceFn = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
			_ = c.Begin("user", "pencil", "")
			if _, err := c.Step(""); err != nil {
				t.Fatal(err)
			}
			_, err := c.Step(tc.serverFirst)
			if tc.serverFinal != "" {
				if err != nil {
					t.Fatalf("server-first refused: %v", err)
				}
				_, err = c.Step(tc.serverFinal)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if c.Done() {
				t.Error("done after a failed exchange")
			}
		})
	}
}

func TestSCRAMEscapesNames(t *testing.T) {
	c := newSCRAMClient(sha256Hash)
	c.nonceFn = func() (string, error) { return "abc", nil }
	_ = c.Begin("a=b,c", "p", "z,z")
	first, _ := c.Step("")
	if first != "n,a=z=2Cz,n=a=3Db=2Cc,r=abc" {
		t.Errorf("client-first = %q", first)
	}
}

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
