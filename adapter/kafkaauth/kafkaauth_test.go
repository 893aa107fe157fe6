package kafkaauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/gintoki/gintoki/infrastructure/tlsfiles/tlstest"
)

func TestSetupPutsTLSAndSCRAMOnTheClient(t *testing.T) {
	ca := tlstest.NewCA(t, "kafka")
	cp := ca.Client(t, "gintoki")
	secure, err := Config{
		TLS:  TLSConfig{Enable: true, CAFile: ca.CertFile, CertFile: cp.CertFile, KeyFile: cp.KeyFile},
		SASL: SASLConfig{Mechanism: sarama.SASLTypeSCRAMSHA512, User: "u", Password: "p"},
	}.Setup(nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	secure(sc)
	if !sc.Net.TLS.Enable || sc.Net.TLS.Config == nil || sc.Net.TLS.Config.RootCAs == nil || sc.Net.TLS.Config.GetClientCertificate == nil {
		t.Fatal("TLS with the CA and the client certificate not set")
	}
	if sc.Net.TLS.Config.MinVersion < 0x0303 {
		t.Errorf("TLS minimum version %x, want 1.2 or later", sc.Net.TLS.Config.MinVersion)
	}
	cert, err := sc.Net.TLS.Config.GetClientCertificate(nil)
	if err != nil || cert.Leaf == nil && len(cert.Certificate) == 0 {
		t.Fatalf("client certificate: %v", err)
	}
	if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA512 || sc.Net.SASL.User != "u" || sc.Net.SASL.Password != "p" {
		t.Fatalf("SASL not set: %+v", sc.Net.SASL)
	}
	if h := sc.Net.SASL.SCRAMClientGeneratorFunc().(*scramClient).hash; h().Size() != 64 {
		t.Error("SCRAM-SHA-512 client does not hash with SHA-512")
	}
	if err := sc.Validate(); err != nil {
		t.Errorf("sarama refuses the result: %v", err)
	}
}

func TestSetupRefusesBadFilesAndSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := tlstest.NewCA(t, "kafka").Client(t, "c")
	for name, c := range map[string]Config{
		"missing ca":         {TLS: TLSConfig{Enable: true, CAFile: filepath.Join(dir, "nope.pem")}},
		"ca not pem":         {TLS: TLSConfig{Enable: true, CAFile: notPEM}},
		"mismatched pair":    {TLS: TLSConfig{Enable: true, CertFile: cp.CertFile, KeyFile: notPEM}},
		"cert without key":   {TLS: TLSConfig{Enable: true, CertFile: cp.CertFile}},
		"files without tls":  {TLS: TLSConfig{CAFile: notPEM}},
		"unknown mechanism":  {SASL: SASLConfig{Mechanism: "GSSAPI", User: "u", Password: "p"}},
		"plain without user": {SASL: SASLConfig{Mechanism: "PLAIN", Password: "p"}},
		"scram without pass": {SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", User: "u"}},
		"user without mech":  {SASL: SASLConfig{User: "u"}},
	} {
		if _, err := c.Setup(nil); err == nil {
			t.Errorf("%s: Setup accepted it", name)
		}
	}
}

func TestPlainWithoutTLSWarns(t *testing.T) {
	ca := tlstest.NewCA(t, "kafka")
	for _, tc := range []struct {
		name string
		c    Config
		warn bool
	}{
		{"plain in clear", Config{SASL: SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}}, true},
		{"plain over tls", Config{TLS: TLSConfig{Enable: true, CAFile: ca.CertFile}, SASL: SASLConfig{Mechanism: "PLAIN", User: "u", Password: "p"}}, false},
		{"scram in clear", Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", User: "u", Password: "p"}}, false},
	} {
		var buf bytes.Buffer
		if _, err := tc.c.Setup(slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		warned := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "PLAIN without TLS")
		if warned != tc.warn {
			t.Errorf("%s: warned=%t, want %t (log %q)", tc.name, warned, tc.warn, buf.String())
		}
		if strings.Contains(buf.String(), "password=p") {
			t.Errorf("%s: the log holds the password: %q", tc.name, buf.String())
		}
	}
}

func TestThePasswordIsNeverPrinted(t *testing.T) {
	const secret = "hunter2-very-secret"
	c := Config{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", User: "gintoki", Password: secret}}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("config", "kafka", c, "sasl", c.SASL, "nested", struct{ K Config }{c})
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.SASL),
		fmt.Sprintf("%+v", c.SASL), fmt.Sprintf("%#v", c.SASL), c.String(), buf.String(), string(js),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("password printed: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", c.SASL), "gintoki") {
		t.Errorf("the user should still be shown: %+v", c.SASL)
	}
}
