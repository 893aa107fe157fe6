// Package kafkaauth is how every Kafka client of gintoki (the change-feed
// consumer, the relay's producer and checkpoint store) reaches the brokers
// securely: TLS, mutual TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
// on a sarama configuration. One implementation, so serve and relay take
// the same settings and behave the same.
package kafkaauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
)

// Config is the TLS and SASL of one client.
type Config struct {
	TLS  TLSConfig
	SASL SASLConfig
}

// TLSConfig turns on TLS to the brokers.
type TLSConfig struct {
	Enable bool
	// CAFile is a PEM bundle of the CAs to trust instead of the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for
	// brokers that require mutual TLS. Both or neither. They are read
	// again when the files change.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any server certificate. Tests only.
	InsecureSkipVerify bool
}

// SASLConfig turns on SASL authentication.
type SASLConfig struct {
	// Mechanism is "" (no SASL), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string
	User      string
	Password  string
}

// FromSettings is the command line's --kafka-tls* and --kafka-sasl-*
// settings as a Config.
func FromSettings(k config.KafkaSecurity) Config {
	return Config{
		TLS: TLSConfig{Enable: k.TLS, CAFile: k.TLSCAFile, CertFile: k.TLSCertFile, KeyFile: k.TLSKeyFile,
			InsecureSkipVerify: k.TLSInsecureSkipVer},
		SASL: SASLConfig{Mechanism: k.SASLMechanism, User: k.SASLUser, Password: k.SASLPassword},
	}
}

// Validate reports every problem at once, each naming its setting.
func (c Config) Validate() error {
	return errors.Join(append(c.TLS.validate(), c.SASL.validate()...)...)
}

func (t TLSConfig) validate() []error {
	var errs []error
	if !t.Enable && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify) {
		errs = append(errs, errors.New("kafka tls: files or insecure-skip-verify are set but tls is not enabled"))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("kafka tls: cert file and key file go together; set both or neither"))
	}
	return errs
}

func (s SASLConfig) validate() []error {
	switch s.Mechanism {
	case "":
		if s.User != "" || s.Password != "" {
			return []error{errors.New("kafka sasl: user or password set but no mechanism; set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")}
		}
		return nil
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
	default:
		return []error{fmt.Errorf("kafka sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)}
	}
	var errs []error
	if s.User == "" {
		errs = append(errs, fmt.Errorf("kafka sasl %s: user is required", s.Mechanism))
	}
	if s.Password == "" {
		errs = append(errs, fmt.Errorf("kafka sasl %s: password is required", s.Mechanism))
	}
	return errs
}

// PlainWithoutTLS reports SASL PLAIN over a clear connection: the password
// then crosses the network as it is.
func (c Config) PlainWithoutTLS() bool {
	return c.SASL.Mechanism == sarama.SASLTypePlaintext && !c.TLS.Enable
}

// Setup validates c, loads its files (a bad file fails here, at start) and
// returns the function that puts TLS and SASL on a sarama configuration.
// The function can be applied to any number of client configurations; they
// share the certificate files' watcher. log receives a warning for SASL
// PLAIN without TLS and the certificates' reloads; nil discards them.
func (c Config) Setup(log *slog.Logger) (func(*sarama.Config), error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.PlainWithoutTLS() {
		log.Warn("kafka: SASL PLAIN without TLS sends the password in clear text; set --kafka-tls or use SCRAM")
	}
	var tlsClient *tlsfiles.Client
	if c.TLS.Enable {
		var err error
		tlsClient, err = tlsfiles.NewClient(tlsfiles.ClientFiles{
			CA: c.TLS.CAFile, Cert: c.TLS.CertFile, Key: c.TLS.KeyFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify,
		}, log.With("component", "kafka-tls"))
		if err != nil {
			return nil, fmt.Errorf("kafka tls (--kafka-tls-ca, --kafka-tls-cert, --kafka-tls-key): %w", err)
		}
	}
	return func(sc *sarama.Config) {
		if tlsClient != nil {
			sc.Net.TLS.Enable = true
			sc.Net.TLS.Config = tlsClient.Config()
		}
		if c.SASL.Mechanism == "" {
			return
		}
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASL.Mechanism)
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		switch c.SASL.Mechanism {
		case sarama.SASLTypeSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(scram.SHA256) }
		case sarama.SASLTypeSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAMClient(scram.SHA512) }
		}
	}, nil
}

// String describes c for logs, without the password.
func (c Config) String() string {
	s := fmt.Sprintf("tls=%t", c.TLS.Enable)
	if c.TLS.CertFile != "" {
		s += " client_cert=" + c.TLS.CertFile
	}
	if c.SASL.Mechanism != "" {
		s += fmt.Sprintf(" sasl=%s user=%s", c.SASL.Mechanism, c.SASL.User)
	}
	return s
}

// LogValue is what slog prints of c.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String, GoString, LogValue and MarshalJSON keep the password out of
// anything that prints the settings: %v, %+v, %#v, slog and JSON.
func (s SASLConfig) String() string {
	return fmt.Sprintf("{Mechanism:%s User:%s Password:%s}", s.Mechanism, s.User, redact(s.Password))
}

// GoString is String for %#v.
func (s SASLConfig) GoString() string { return "kafkaauth.SASLConfig" + s.String() }

// LogValue is what slog prints.
func (s SASLConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", s.Mechanism), slog.String("user", s.User),
		slog.String("password", redact(s.Password)))
}

// MarshalJSON is what JSON (and slog's JSON handler, for a nested value)
// prints.
func (s SASLConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"mechanism": s.Mechanism, "user": s.User, "password": redact(s.Password)})
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}
