package tlsfiles

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/tlsfiles/tlstest"
)

// serveEcho accepts TLS connections and answers each with the serial of the
// client's certificate ("none" without one), over a real socket.
func serveEcho(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	tln := tls.NewListener(ln, cfg)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				peer := "none"
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					peer = certs[0].SerialNumber.String()
				}
				_, _ = fmt.Fprintln(tc, peer)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects, reads the server's line and returns the server's
// certificate serial and what the server saw of the client.
func dial(addr string, cfg *tls.Config) (server *big.Int, sawClient string, err error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// With TLS 1.3 a refused client certificate shows up on the first read.
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, strings.TrimSpace(line), nil
}

// listen starts a TLS echo server on f and returns its address.
func listen(t *testing.T, f ServerFiles) string {
	t.Helper()
	srv, err := NewServer(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return serveEcho(t, srv.Config("test"))
}

func newClient(t *testing.T, f ClientFiles) *Client {
	t.Helper()
	c, err := NewClient(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noDelay: rotation tests look at the files at every handshake.
const noDelay = time.Nanosecond

func TestServerAndClientOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "localhost", "127.0.0.1")
	addr := listen(t, ServerFiles{Cert: sp.CertFile, Key: sp.KeyFile})

	cl := newClient(t, ClientFiles{CA: ca.CertFile})
	serial, saw, err := dial(addr, cl.Config())
	if err != nil {
		t.Fatalf("client trusting the CA: %v", err)
	}
	if serial.Cmp(sp.Serial) != 0 || saw != "none" {
		t.Fatalf("server serial %v (want %v), client seen as %q", serial, sp.Serial, saw)
	}

	other := tlstest.NewCA(t, "other")
	cl2 := newClient(t, ClientFiles{CA: other.CertFile})
	if _, _, err := dial(addr, cl2.Config()); err == nil {
		t.Fatal("a client trusting another CA connected")
	}
	cl3 := newClient(t, ClientFiles{CA: ca.CertFile, ServerName: "elsewhere.example"})
	if _, _, err := dial(addr, cl3.Config()); err == nil {
		t.Fatal("a certificate for other names was accepted")
	}
}

func TestOldTLSVersionsAreRefused(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "127.0.0.1")
	addr := listen(t, ServerFiles{Cert: sp.CertFile, Key: sp.KeyFile})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.CertFile)
	pool.AppendCertsFromPEM(pem)
	old := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // the point of the test
	if _, _, err := dial(addr, old); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
	if _, _, err := dial(addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "127.0.0.1")
	srv, err := NewServer(ServerFiles{Cert: sp.CertFile, Key: sp.KeyFile, ClientCA: ca.CertFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.MutualTLS() {
		t.Fatal("MutualTLS() is false with a client CA")
	}
	addr := serveEcho(t, srv.Config("test"))

	anonymous := newClient(t, ClientFiles{CA: ca.CertFile})
	if _, _, err := dial(addr, anonymous.Config()); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	stranger := tlstest.NewCA(t, "stranger").Client(t, "mallory")
	foreign := newClient(t, ClientFiles{CA: ca.CertFile, Cert: stranger.CertFile, Key: stranger.KeyFile})
	if _, _, err := dial(addr, foreign.Config()); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	cp := ca.Client(t, "gateway")
	good := newClient(t, ClientFiles{CA: ca.CertFile, Cert: cp.CertFile, Key: cp.KeyFile})
	_, saw, err := dial(addr, good.Config())
	if err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	if saw != cp.Serial.String() {
		t.Fatalf("server saw client %s, want %s", saw, cp.Serial)
	}
}

func TestRotationWithoutRestart(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "127.0.0.1")
	cp := ca.Client(t, "gateway")
	addr := listen(t, ServerFiles{Cert: sp.CertFile, Key: sp.KeyFile, ClientCA: ca.CertFile, CheckEvery: noDelay})
	cl := newClient(t, ClientFiles{CA: ca.CertFile, Cert: cp.CertFile, Key: cp.KeyFile, CheckEvery: noDelay})
	cfg := cl.Config() // kept, as a Kafka client keeps its configuration

	sp2 := ca.Reissue(t, sp, "server", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	cp2 := ca.Reissue(t, cp, "gateway", x509.ExtKeyUsageClientAuth)
	serial, saw, err := dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if serial.Cmp(sp2.Serial) != 0 {
		t.Fatalf("server certificate %v after rotation, want the new %v", serial, sp2.Serial)
	}
	if saw != cp2.Serial.String() {
		t.Fatalf("client certificate %s after rotation, want the new %s", saw, cp2.Serial)
	}

	// A new CA: the server trusts clients of the new CA only, and a client
	// configuration made after the CA file changed trusts the new server.
	ca2 := tlstest.NewCA(t, "test2")
	copyFile(t, ca2.CertFile, ca.CertFile)
	if _, _, err := dial(addr, cfg); err == nil { // cfg still trusts the old CA, which signed the server
		t.Fatal("the old client certificate still passed after the client CA was replaced")
	}
	ca2.Reissue(t, sp, "server", x509.ExtKeyUsageServerAuth, "127.0.0.1")
	cp3 := ca2.Reissue(t, cp, "gateway", x509.ExtKeyUsageClientAuth)
	if _, saw, err = dial(addr, cl.Config()); err != nil {
		t.Fatalf("after rotating the CA and both certificates: %v", err)
	}
	if saw != cp3.Serial.String() {
		t.Fatalf("client certificate %s, want %s", saw, cp3.Serial)
	}
}

func TestBrokenFilesKeepThePreviousCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "127.0.0.1")
	addr := listen(t, ServerFiles{Cert: sp.CertFile, Key: sp.KeyFile, CheckEvery: noDelay})
	cl := newClient(t, ClientFiles{CA: ca.CertFile})
	if err := os.WriteFile(sp.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	serial, _, err := dial(addr, cl.Config())
	if err != nil {
		t.Fatalf("a broken key file took the listener down: %v", err)
	}
	if serial.Cmp(sp.Serial) != 0 {
		t.Fatalf("serial %v, want the previous %v", serial, sp.Serial)
	}
}

func TestBadFilesFailAtStart(t *testing.T) {
	ca := tlstest.NewCA(t, "test")
	sp := ca.Server(t, "server", "127.0.0.1")
	for name, f := range map[string]ServerFiles{
		"missing cert":  {Cert: sp.CertFile + ".missing", Key: sp.KeyFile},
		"key only":      {Key: sp.KeyFile},
		"ca alone":      {ClientCA: ca.CertFile},
		"ca is not pem": {Cert: sp.CertFile, Key: sp.KeyFile, ClientCA: sp.KeyFile},
		"swapped pair":  {Cert: sp.KeyFile, Key: sp.CertFile},
	} {
		if _, err := NewServer(f, nil); err == nil {
			t.Errorf("%s: NewServer accepted %+v", name, f)
		}
	}
	if _, err := NewClient(ClientFiles{Cert: sp.CertFile}, nil); err == nil {
		t.Error("a client certificate without its key was accepted")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
