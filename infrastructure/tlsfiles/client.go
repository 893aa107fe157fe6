package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"
)

// ClientFiles say how a client checks its servers and proves who it is.
type ClientFiles struct {
	// CA is a PEM bundle of the CAs to trust instead of the system's.
	CA string
	// Cert and Key are a client certificate, for servers that require
	// mutual TLS. Both or neither.
	Cert, Key string
	// ServerName is the name the server's certificate must carry; empty
	// means the host of the address dialled.
	ServerName string
	// InsecureSkipVerify accepts any server certificate. Tests only.
	InsecureSkipVerify bool
	// CheckEvery is how often the files are looked at again (0:
	// DefaultCheckEvery).
	CheckEvery time.Duration
}

// Check says what is inconsistent.
func (f ClientFiles) Check() error {
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("a client certificate and its key go together: set both or neither")
	}
	return nil
}

// Client makes client configurations from the files.
type Client struct {
	files ClientFiles
	ca    *watched[*x509.CertPool]   // nil: the system's roots
	pair  *watched[*tls.Certificate] // nil: no client certificate
}

// NewClient loads the files once, so a bad file fails the start, and
// watches them afterwards.
func NewClient(f ClientFiles, log *slog.Logger) (*Client, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	log = logOrDiscard(log)
	c := &Client{files: f}
	var err error
	if f.CA != "" {
		if c.ca, err = watchPool("server CA", f.CA, f.CheckEvery, log); err != nil {
			return nil, err
		}
	}
	if f.Cert != "" {
		if c.pair, err = watchPair("client certificate", f.Cert, f.Key, f.CheckEvery, log); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Config returns a configuration trusting the CA bundle as it is now. The
// client certificate is read again on each handshake that asks for one, so
// a configuration kept for long (a Kafka client's) follows its rotation; a
// rotated CA bundle reaches the handshakes of configurations made after it.
func (c *Client) Config() *tls.Config {
	tc := &tls.Config{
		MinVersion:         MinVersion,
		ServerName:         c.files.ServerName,
		InsecureSkipVerify: c.files.InsecureSkipVerify, //nolint:gosec // opt-in, for tests
	}
	if c.ca != nil {
		tc.RootCAs = c.ca.get()
	}
	if c.pair != nil {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.pair.get(), nil
		}
	}
	return tc
}
