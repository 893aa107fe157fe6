package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
)

// ServerTLS is the TLS of a process's API listeners (HTTP, and gRPC where
// there is one).
type ServerTLS struct {
	Cert, Key, ClientCA string
}

// Register adds --tls-cert, --tls-key and --tls-client-ca; listeners names
// what they protect, for --help.
func (t *ServerTLS) Register(s *Set, listeners string) {
	s.String(&t.Cert, "tls-cert", "", "PEM certificate (chain) of the "+listeners+"; with --tls-key turns TLS on (TLS 1.2 or later); re-read when the file changes")
	s.String(&t.Key, "tls-key", "", "PEM private key of --tls-cert; re-read when the file changes")
	s.String(&t.ClientCA, "tls-client-ca", "", "PEM bundle of the CAs that sign client certificates: every client must present one (mutual TLS); re-read when the file changes")
	s.Check(func() error {
		if err := t.Files().Check(); err != nil {
			return fmt.Errorf("--tls-cert, --tls-key, --tls-client-ca: %v", err)
		}
		return nil
	})
}

// Files are the settings as tlsfiles takes them.
func (t ServerTLS) Files() tlsfiles.ServerFiles {
	return tlsfiles.ServerFiles{Cert: t.Cert, Key: t.Key, ClientCA: t.ClientCA}
}

// KafkaSecurity is how a Kafka client authenticates and encrypts: the same
// flags for every command that talks to Kafka.
type KafkaSecurity struct {
	TLS                bool
	TLSCAFile          string
	TLSCertFile        string
	TLSKeyFile         string
	TLSInsecureSkipVer bool
	SASLMechanism      string
	SASLUser           string
	SASLPassword       string
	SASLPasswordFile   string
}

// Register adds the Kafka TLS and SASL flags.
func (k *KafkaSecurity) Register(s *Set) {
	s.Bool(&k.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	s.String(&k.TLSCAFile, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates")
	s.String(&k.TLSCertFile, "kafka-tls-cert", "", "PEM client certificate (mutual TLS); re-read when the file changes")
	s.String(&k.TLSKeyFile, "kafka-tls-key", "", "PEM client key (mutual TLS); re-read when the file changes")
	s.Bool(&k.TLSInsecureSkipVer, "kafka-tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
	s.String(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none); PLAIN without --kafka-tls is warned about")
	s.String(&k.SASLUser, "kafka-sasl-user", "", "SASL user")
	s.Secret(&k.SASLPassword, "kafka-sasl-password", "", "SASL password; prefer --kafka-sasl-password-file, which keeps it off the command line")
	s.String(&k.SASLPasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password (a trailing newline is ignored)")
	s.Check(func() error {
		k.SASLMechanism = strings.ToUpper(k.SASLMechanism)
		switch k.SASLMechanism {
		case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return fmt.Errorf("--kafka-sasl-mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", k.SASLMechanism)
		}
		if k.SASLPasswordFile != "" {
			if k.SASLPassword != "" {
				return errors.New("--kafka-sasl-password and --kafka-sasl-password-file: set one, not both")
			}
			pw, err := ReadSecretFile(k.SASLPasswordFile)
			if err != nil {
				return fmt.Errorf("--kafka-sasl-password-file: %v", err)
			}
			k.SASLPassword = pw
		}
		return nil
	})
}

// ReadSecretFile reads a password or key from a file, as container
// platforms mount secrets: one value, maybe followed by a newline.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// RegisterDBPasswordFile adds --db-password-file, whose contents become the
// password of the MySQL DSN in *dsn once the flags are parsed. It runs
// after the DSN's own checks, so register it after --db.
func RegisterDBPasswordFile(s *Set, dsn *string) {
	var file string
	s.String(&file, "db-password-file", "", "file holding the database password, put into --db (which then needs none): keeps it off the command line and out of ps")
	s.Check(func() error {
		if file == "" {
			return nil
		}
		pw, err := ReadSecretFile(file)
		if err != nil {
			return fmt.Errorf("--db-password-file: %v", err)
		}
		d, err := database.ParseDSN(*dsn)
		if err != nil {
			return fmt.Errorf("--db: %v", err)
		}
		withPW, err := d.WithPassword(pw)
		if err != nil {
			return fmt.Errorf("--db-password-file: %v", err)
		}
		*dsn = withPW
		return nil
	})
}
