package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ServerFiles are a listener's certificate and key and, for mutual TLS, the
// CA bundle that client certificates must chain to.
type ServerFiles struct {
	Cert, Key string
	// ClientCA, when set, makes a client certificate signed by one of its
	// CAs a requirement of every connection.
	ClientCA string
	// CheckEvery is how often the files are looked at again (0:
	// DefaultCheckEvery).
	CheckEvery time.Duration
}

// Enabled reports whether TLS is asked for.
func (f ServerFiles) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Check says what is missing; an empty ServerFiles is valid (no TLS).
func (f ServerFiles) Check() error {
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("a certificate and its key go together: set both or neither")
	}
	if f.ClientCA != "" && f.Cert == "" {
		return errors.New("a client CA (mutual TLS) needs the server's own certificate and key")
	}
	return nil
}

// Server serves the current certificate of a listener and checks clients
// against the current client CA.
type Server struct {
	pair     *watched[*tls.Certificate]
	clientCA *watched[*x509.CertPool] // nil: no client certificate asked
}

// NewServer loads the files once, so a bad file fails the start, and
// watches them afterwards. log receives reloads and failed reloads.
func NewServer(f ServerFiles, log *slog.Logger) (*Server, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	log = logOrDiscard(log)
	pair, err := watchPair("server certificate", f.Cert, f.Key, f.CheckEvery, log)
	if err != nil {
		return nil, err
	}
	s := &Server{pair: pair}
	if f.ClientCA != "" {
		if s.clientCA, err = watchPool("client CA", f.ClientCA, f.CheckEvery, log); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// MutualTLS reports whether clients must present a certificate.
func (s *Server) MutualTLS() bool { return s.clientCA != nil }

// Config is the configuration of one listener offering nextProtos by ALPN
// ("h2" for gRPC; "h2", "http/1.1" for HTTP). Each handshake gets the
// certificate and client CA as they are in the files then; the
// configuration is rebuilt only when one of them changed, so session
// resumption keeps working between rotations.
func (s *Server) Config(nextProtos ...string) *tls.Config {
	var (
		mu       sync.Mutex
		lastPair *tls.Certificate
		lastCA   *x509.CertPool
		last     *tls.Config
	)
	current := func() *tls.Config {
		pair := s.pair.get()
		var ca *x509.CertPool
		if s.clientCA != nil {
			ca = s.clientCA.get()
		}
		mu.Lock()
		defer mu.Unlock()
		if last != nil && pair == lastPair && ca == lastCA {
			return last
		}
		c := &tls.Config{
			MinVersion:   MinVersion,
			NextProtos:   nextProtos,
			Certificates: []tls.Certificate{*pair},
		}
		if ca != nil {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = ca
		}
		lastPair, lastCA, last = pair, ca, c
		return c
	}
	return &tls.Config{
		MinVersion: MinVersion,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return current(), nil
		},
		// Never used while GetConfigForClient answers; it tells servers
		// that check for a certificate source (http.Server.ServeTLS) that
		// there is one.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.pair.get(), nil
		},
	}
}
