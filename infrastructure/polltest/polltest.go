// Package polltest waits in tests for something another goroutine or
// process brings about: the one poll-until helper of the project.
package polltest

import (
	"testing"
	"time"
)

// Until calls cond until it holds, at first every millisecond, then less
// often (up to every 20 ms); when limit passes first it fails t saying what
// it waited for. An abort function that returns an error ends the wait at
// once with that error: a child process that exited, a component that
// stopped, no point waiting for the limit.
func Until(t testing.TB, limit time.Duration, what string, cond func() bool, abort ...func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	wait := time.Millisecond
	for !cond() {
		for _, a := range abort {
			if err := a(); err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, limit)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// Failed is an abort function for Until that reports the first error
// received on ch.
func Failed(ch <-chan error) func() error {
	return func() error {
		select {
		case err := <-ch:
			return err
		default:
			return nil
		}
	}
}
