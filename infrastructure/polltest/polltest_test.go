package polltest

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	go func() {
		time.Sleep(5 * time.Millisecond)
		n.Store(1)
	}()
	Until(t, 5*time.Second, "the flag", func() bool { return n.Load() == 1 })
}

// A wait that cannot end (the limit) or must not go on (an abort) fails
// the test, saying what it waited for and why it stopped.
func TestUntilFailsAfterTheLimitOrOnAnAbort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		abort []func() error
		want  string
	}{
		{"limit", nil, "gave up waiting for never after"},
		{"abort", []func() error{Failed(closedWith(errors.New("relay ended")))}, "waiting for never: relay ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Until(rec, 30*time.Millisecond, "never", func() bool { return false }, tc.abort...)
			}()
			<-done
			if !rec.failed || len(rec.msg) < len(tc.want) || rec.msg[:len(tc.want)] != tc.want {
				t.Fatalf("failed %v with %q, want %q", rec.failed, rec.msg, tc.want)
			}
		})
	}
}

func closedWith(err error) <-chan error {
	ch := make(chan error, 1)
	ch <- err
	return ch
}

// recorder catches Fatalf; Until's goroutine ends there (runtime.Goexit).
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
