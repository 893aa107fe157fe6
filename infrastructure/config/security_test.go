package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func secretFile(t *testing.T, contents string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDBPasswordFile(t *testing.T) {
	s, _, d, _, _ := newServeLike()
	pw := secretFile(t, "p@ss:w/rd\n")
	if err := s.Parse([]string{"--db", "mysql://app@tcp(db:3306)/shop", "--db-password-file", pw}, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.DSN, "mysql://app:p@ss:w/rd@tcp(db:3306)/shop") {
		t.Fatalf("DSN %q", d.DSN)
	}
	for name, args := range map[string][]string{
		"password twice": {"--db", "mysql://app:inline-secret@tcp(db:3306)/shop", "--db-password-file", pw},
		"sqlite":         {"--db", "sqlite://x.db", "--db-password-file", pw},
		"missing file":   {"--db", "mysql://app@tcp(db:3306)/shop", "--db-password-file", pw + ".missing"},
		"empty file":     {"--db", "mysql://app@tcp(db:3306)/shop", "--db-password-file", secretFile(t, "\n")},
	} {
		s, _, _, _, _ := newServeLike()
		err := s.Parse(args, env(nil))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "inline-secret") || strings.Contains(err.Error(), "p@ss") {
			t.Errorf("%s: the error repeats the password: %v", name, err)
		}
	}
}

func TestVariablesFromFiles(t *testing.T) {
	s, _, d, _, _ := newServeLike()
	dsn := secretFile(t, "mysql://app:from-file@tcp(db:3306)/shop\n")
	if err := s.Parse(nil, env(map[string]string{"GINTOKI_DB_FILE": dsn})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.DSN, "app:from-file@") {
		t.Fatalf("GINTOKI_DB_FILE not read: %q", d.DSN)
	}
	// The variable itself wins over its file.
	s, _, d, _, _ = newServeLike()
	if err := s.Parse(nil, env(map[string]string{"GINTOKI_DB_FILE": dsn, "GINTOKI_DB": "sqlite://a.db"})); err != nil {
		t.Fatal(err)
	}
	if d.DSN != "sqlite://a.db" {
		t.Fatalf("DSN %q, want the variable's", d.DSN)
	}
	s, _, _, _, _ = newServeLike()
	err := s.Parse(nil, env(map[string]string{"GINTOKI_DB_FILE": dsn + ".missing"}))
	if err == nil || !strings.Contains(err.Error(), "GINTOKI_DB_FILE") {
		t.Fatalf("a missing file: %v", err)
	}
}

func TestKafkaSASLPasswordFile(t *testing.T) {
	newSet := func() (*Set, *Kafka) {
		s := NewSet("serve", "test")
		var k Kafka
		k.Register(s)
		return s, &k
	}
	pw := secretFile(t, "kafka-secret\n")
	// The flag's own variable, which is also what the _FILE convention names.
	s, k := newSet()
	if err := s.Parse([]string{"--kafka-sasl-mechanism", "plain"}, env(map[string]string{"GINTOKI_KAFKA_SASL_PASSWORD_FILE": pw})); err != nil {
		t.Fatal(err)
	}
	if k.SASLPassword != "kafka-secret" || k.SASLMechanism != "PLAIN" {
		t.Fatalf("password %q mechanism %q", k.SASLPassword, k.SASLMechanism)
	}
	s, _ = newSet()
	if err := s.Parse([]string{"--kafka-sasl-password", "x", "--kafka-sasl-password-file", pw}, env(nil)); err == nil {
		t.Fatal("a password given twice was accepted")
	}
}

func TestSecretsAreNotRepeatedInUsageOrErrors(t *testing.T) {
	s := NewSet("serve", "test")
	var k Kafka
	k.Register(s)
	var buf strings.Builder
	s.Usage(&buf)
	for _, want := range []string{"--kafka-sasl-password-file", "--kafka-tls-cert", "--kafka-sasl-mechanism"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("--help does not list %s", want)
		}
	}
	// A secret flag whose variable fails to parse is named without its value.
	s2 := NewSet("x", "test")
	var n string
	s2.Secret(&n, "token", "", "a secret")
	s2.fs.Lookup("token").Value = failingValue{}
	err := s2.Parse(nil, env(map[string]string{"GINTOKI_TOKEN": "tok-secret"}))
	if err == nil || strings.Contains(err.Error(), "tok-secret") || !strings.Contains(err.Error(), "GINTOKI_TOKEN") {
		t.Fatalf("error %v", err)
	}
}

type failingValue struct{}

func (failingValue) String() string   { return "" }
func (failingValue) Set(string) error { return os.ErrInvalid }

func TestAdminAndTLSFlags(t *testing.T) {
	parse := func(args ...string) error {
		s := NewSet("serve", "test")
		var h HTTP
		var tl ServerTLS
		h.Register(s, ":8080")
		tl.Register(s, "HTTP and gRPC listeners")
		return s.Parse(args, env(nil))
	}
	if err := parse("--admin-addr", "127.0.0.1:9100"); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"admin and pprof":   {"--admin-addr", ":9100", "--pprof-addr", ":6060"},
		"admin not address": {"--admin-addr", "9100"},
		"cert without key":  {"--tls-cert", "c.pem"},
		"client ca alone":   {"--tls-client-ca", "ca.pem"},
	} {
		if err := parse(args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := parse("--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem"); err != nil {
		t.Errorf("TLS with a client CA: %v", err)
	}
}
