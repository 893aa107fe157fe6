package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gintoki/gintoki/infrastructure/tlsfiles/tlstest"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

func tlsClient(t *testing.T, ca string, pair *tlstest.Pair) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if pair != nil {
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

func httpsGet(cfg *tls.Config, url string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// serve with mutual TLS on HTTP and gRPC and its admin listener apart; the
// gateway in front of it over TLS, with and without a client certificate.
func TestServeAndGatewayOverMutualTLS(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	if code, _, stderr := runMain("seed", "--db", dsn, "--products", "20", "--warehouses", "2"); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	ca := tlstest.NewCA(t, "gintoki")
	server := ca.Server(t, "serve", "localhost", "127.0.0.1")
	gwClient := ca.Client(t, "gateway")
	httpAddr, grpcAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, "serve", "--db", dsn, "--http-addr", httpAddr, "--grpc-addr", grpcAddr, "--admin-addr", adminAddr,
		"--tls-cert", server.CertFile, "--tls-key", server.KeyFile, "--tls-client-ca", ca.CertFile)
	base := "https://" + httpAddr
	withCert := tlsClient(t, ca.CertFile, &gwClient)
	polltest.Until(t, 20*time.Second, "serve ready over https", func() bool {
		code, _, err := httpsGet(withCert, base+"/readyz")
		return err == nil && code == 200
	})

	// HTTPS: a client certificate of the CA is required.
	if code, body, err := httpsGet(withCert, base+"/cache?product_id=7"); err != nil || code != 200 || !strings.Contains(body, `"product_id":7`) {
		t.Fatalf("https with a client certificate: %d %s %v", code, body, err)
	}
	if _, _, err := httpsGet(tlsClient(t, ca.CertFile, nil), base+"/healthz"); err == nil {
		t.Error("https without a client certificate was answered")
	}
	stranger := tlstest.NewCA(t, "stranger").Client(t, "mallory")
	if _, _, err := httpsGet(tlsClient(t, ca.CertFile, &stranger), base+"/healthz"); err == nil {
		t.Error("https with a certificate of another CA was answered")
	}
	// Go's TLS server tells a plain-HTTP client off with a 400.
	if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d, want 400", resp.StatusCode)
		}
	}
	// /metrics is on the admin listener only; pprof never gives the command line.
	if code, _, err := httpsGet(withCert, base+"/metrics"); err != nil || code != 404 {
		t.Errorf("/metrics on the API port: %d %v, want 404", code, err)
	}
	if code, body := get(t, "http://"+adminAddr+"/metrics"); code != 200 || !strings.Contains(body, "gintoki_http_requests_total") {
		t.Errorf("admin /metrics: %d", code)
	}
	if code, body := get(t, "http://"+adminAddr+"/debug/pprof/cmdline"); code != 404 || strings.Contains(body, server.KeyFile) {
		t.Errorf("admin /debug/pprof/cmdline: %d %q", code, body)
	}

	// gRPC over TLS: with a client certificate, and refused without.
	call := func(cfg *tls.Config) error {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = inventoryv1.NewInventoryServiceClient(conn).GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 7})
		return err
	}
	if err := call(withCert); err != nil {
		t.Fatalf("gRPC over mutual TLS: %v", err)
	}
	if err := call(tlsClient(t, ca.CertFile, nil)); err == nil {
		t.Error("gRPC without a client certificate was answered")
	}

	// The gateway, itself on HTTPS, reaches the TLS backend with the CA and
	// its client certificate.
	gwCert := ca.Server(t, "gateway-https", "127.0.0.1")
	gwAddr := freeAddr(t)
	start(t, "gateway", "--backend", grpcAddr, "--http-addr", gwAddr,
		"--tls-cert", gwCert.CertFile, "--tls-key", gwCert.KeyFile,
		"--backend-tls-ca", ca.CertFile, "--backend-tls-cert", gwClient.CertFile, "--backend-tls-key", gwClient.KeyFile,
		"--backend-tls-server-name", "localhost")
	anyClient := tlsClient(t, ca.CertFile, nil)
	polltest.Until(t, 20*time.Second, "gateway ready", func() bool {
		code, _, err := httpsGet(anyClient, "https://"+gwAddr+"/readyz")
		return err == nil && code == 200
	})
	if code, body, err := httpsGet(anyClient, "https://"+gwAddr+"/cache?product_id=7"); err != nil || code != 200 || !strings.Contains(body, `"product_id":7`) {
		t.Fatalf("through the gateway: %d %s %v", code, body, err)
	}

	// Without a client certificate the backend refuses the gateway.
	noCertAddr := freeAddr(t)
	start(t, "gateway", "--backend", grpcAddr, "--http-addr", noCertAddr, "--backend-tls-ca", ca.CertFile)
	polltest.Until(t, 20*time.Second, "gateway without a client certificate answering", func() bool {
		resp, err := http.Get("http://" + noCertAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if code, _ := get(t, "http://"+noCertAddr+"/cache?product_id=7"); code != 503 {
		t.Errorf("gateway without a client certificate: %d, want 503", code)
	}
	if ready("http://" + noCertAddr) {
		t.Error("gateway without a client certificate says it is ready")
	}
}

// The standard health service works over TLS too, for probes that speak gRPC.
func TestGRPCHealthOverTLS(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	if code, _, stderr := runMain("seed", "--db", dsn, "--products", "5", "--warehouses", "1"); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	ca := tlstest.NewCA(t, "gintoki")
	server := ca.Server(t, "serve", "127.0.0.1")
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	start(t, "serve", "--db", dsn, "--http-addr", httpAddr, "--grpc-addr", grpcAddr,
		"--tls-cert", server.CertFile, "--tls-key", server.KeyFile, "--grpc-reflection=false")
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsClient(t, ca.CertFile, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	polltest.Until(t, 20*time.Second, "grpc health SERVING over TLS", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
}
