package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Passwords given in files reach the database and the broker but never
// the output, whatever fails.
func TestPasswordsFromFilesAreNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	dbPW := filepath.Join(dir, "db")
	kafkaPW := filepath.Join(dir, "kafka")
	for f, v := range map[string]string{dbPW: "db-s3cret-from-file\n", kafkaPW: "kafka-s3cret-from-file\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"migrate", "--db", "mysql://gintoki@tcp(127.0.0.1:1)/nowhere", "--db-password-file", dbPW, "--db-timeout", "200ms"},
		{"serve", "--db", "mysql://gintoki:inline-s3cret@tcp(127.0.0.1:1)/nowhere", "--db-password-file", dbPW},
		{"serve", "--db", "sqlite://x.db", "--kafka-brokers", "127.0.0.1:1", "--kafka-sasl-mechanism", "PLAIN",
			"--kafka-sasl-user", "u", "--kafka-sasl-password-file", kafkaPW, "--kafka-sasl-password", "inline-s3cret"},
		{"relay", "--db", "mysql://relay:inline-s3cret@tcp(127.0.0.1:1)/shop", "--db-password-file", dbPW, "--kafka-brokers", "127.0.0.1:1"},
	} {
		code, out, stderr := runMain(args...)
		if code == 0 {
			t.Errorf("%v succeeded", args)
		}
		if strings.Contains(out+stderr, "s3cret") {
			t.Errorf("%v printed a password: %s %s", args, out, stderr)
		}
	}
}

func TestRelayHelpListsKafkaTLSAndSASL(t *testing.T) {
	code, out, _ := runMain("relay", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"--kafka-tls ", "--kafka-tls-ca", "--kafka-tls-cert", "--kafka-tls-key", "--kafka-sasl-mechanism",
		"--kafka-sasl-user", "--kafka-sasl-password ", "--kafka-sasl-password-file", "--db-password-file", "GINTOKI_KAFKA_SASL_PASSWORD_FILE"} {
		if !strings.Contains(out, flag) {
			t.Errorf("relay --help does not list %s", flag)
		}
	}
}
