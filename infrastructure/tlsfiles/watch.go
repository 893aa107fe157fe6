// Package tlsfiles builds TLS configurations from PEM files and keeps them
// current: a certificate, its key and a CA bundle are read again when their
// files change, so short-lived certificates can be rotated without a
// restart. TLS 1.2 is the oldest version either side accepts.
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// MinVersion is the oldest TLS version offered or accepted.
const MinVersion = tls.VersionTLS12

// DefaultCheckEvery is how often, by default, files are compared with what
// was loaded (ServerFiles.CheckEvery, ClientFiles.CheckEvery). The check
// runs on use (a handshake), so an idle process reads nothing.
const DefaultCheckEvery = time.Second

// watched holds what was parsed from a set of files and parses them again
// when their contents change. A change that does not parse (a certificate
// written before its key, say) keeps the previous value until the files
// agree again.
type watched[T any] struct {
	what  string
	paths []string
	parse func(contents [][]byte) (T, error)
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	cur     T
	raw     [][]byte
	checked time.Time
	failing bool // the last change failed to load; logged once
}

func newWatched[T any](what string, paths []string, every time.Duration, parse func([][]byte) (T, error), log *slog.Logger) (*watched[T], error) {
	if every <= 0 {
		every = DefaultCheckEvery
	}
	w := &watched[T]{what: what, paths: paths, parse: parse, log: log, every: every}
	raw, err := readFiles(paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	v, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	w.cur, w.raw, w.checked = v, raw, time.Now()
	return w, nil
}

// get returns the current value, first loading the files again if they
// changed since the last look (at most once per w.every).
func (w *watched[T]) get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Sub(w.checked) < w.every {
		return w.cur
	}
	w.checked = now
	raw, err := readFiles(w.paths)
	if err == nil && sameContents(raw, w.raw) {
		return w.cur
	}
	var v T
	if err == nil {
		v, err = w.parse(raw)
	}
	if err != nil {
		if !w.failing {
			w.log.Warn("tls: files changed but do not load; keeping the previous "+w.what, "files", w.paths, "err", err)
		}
		w.failing = true
		return w.cur
	}
	w.cur, w.raw, w.failing = v, raw, false
	w.log.Info("tls: reloaded "+w.what, "files", w.paths)
	return w.cur
}

func readFiles(paths []string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func sameContents(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// watchPair watches a PEM certificate (chain) and its key.
func watchPair(what, certFile, keyFile string, every time.Duration, log *slog.Logger) (*watched[*tls.Certificate], error) {
	return newWatched(what, []string{certFile, keyFile}, every, func(c [][]byte) (*tls.Certificate, error) {
		pair, err := tls.X509KeyPair(c[0], c[1])
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
		}
		return &pair, nil
	}, log)
}

// watchPool watches a PEM bundle of CA certificates.
func watchPool(what, file string, every time.Duration, log *slog.Logger) (*watched[*x509.CertPool], error) {
	return newWatched(what, []string{file}, every, func(c [][]byte) (*x509.CertPool, error) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c[0]) {
			return nil, fmt.Errorf("%s: no PEM certificate found", file)
		}
		return pool, nil
	}, log)
}

func logOrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
