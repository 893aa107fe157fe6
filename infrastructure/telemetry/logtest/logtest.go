// Package logtest gives tests a log sink they can read while the code
// under test writes to it from its own goroutines.
package logtest

import (
	"bytes"
	"slices"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writes and reads; the zero
// value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the lines written so far (a JSON handler writes one record
// a line); nil when nothing was.
func (l *Buffer) Lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Matching returns the lines holding every one of parts.
func (l *Buffer) Matching(parts ...string) []string {
	var out []string
	for _, line := range l.Lines() {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			out = append(out, line)
		}
	}
	return out
}
