package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// waitClosed fails the test if ch is not closed within a generous bound;
// the bound only keeps a broken implementation from hanging the run.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never closed", what)
	}
}

func TestDeadlineContextDeadline(t *testing.T) {
	before := time.Now()
	ctx := newDeadlineContext(context.Background(), time.Hour)
	d, ok := ctx.Deadline()
	if !ok || d.Before(before.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Deadline() = %v, %v; want about an hour from now", d, ok)
	}

	parent, cancel := context.WithDeadline(context.Background(), before.Add(time.Minute))
	defer cancel()
	pd, _ := parent.Deadline()
	if d, _ := newDeadlineContext(parent, time.Hour).Deadline(); !d.Equal(pd) {
		t.Fatalf("Deadline() = %v, want the earlier parent deadline %v", d, pd)
	}
}

func TestDeadlineContextStaysUnarmedUntilWaitedOn(t *testing.T) {
	type key struct{}
	ctx := newDeadlineContext(context.WithValue(context.Background(), key{}, "v"), time.Hour)
	defer ctx.release()
	_, _ = ctx.Deadline()
	if ctx.Err() != nil || ctx.Value(key{}) != "v" {
		t.Fatal("unexpected Err or Value")
	}
	if ctx.armed.Load() != nil {
		t.Fatal("Deadline/Err/Value armed a timer")
	}
	_ = ctx.Done()
	if ctx.armed.Load() == nil {
		t.Fatal("Done did not arm the timer")
	}
	if ctx.Value(key{}) != "v" {
		t.Fatal("Value lost after arming")
	}
}

func TestDeadlineContextExpires(t *testing.T) {
	ctx := newDeadlineContext(context.Background(), 10*time.Millisecond)
	defer ctx.release()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(fired) })
	defer stop()

	waitClosed(t, ctx.Done(), "Done")
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err() = %v, want DeadlineExceeded", ctx.Err())
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("Cause() = %v, want DeadlineExceeded", cause)
	}
	waitClosed(t, child.Done(), "child Done")
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("child Err() = %v", child.Err())
	}
	waitClosed(t, fired, "AfterFunc")
}

func TestDeadlineContextErrAfterDeadlineWithoutDone(t *testing.T) {
	ctx := newDeadlineContext(context.Background(), time.Nanosecond)
	defer ctx.release()
	time.Sleep(time.Millisecond) // let the deadline pass; no timing is asserted
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, want DeadlineExceeded", ctx.Err())
	}
	waitClosed(t, ctx.Done(), "Done after Err reported the deadline")
}

func TestDeadlineContextRelease(t *testing.T) {
	t.Run("before arming", func(t *testing.T) {
		ctx := newDeadlineContext(context.Background(), time.Hour)
		ctx.release()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err() = %v, want Canceled", ctx.Err())
		}
		waitClosed(t, ctx.Done(), "Done")
	})
	t.Run("after arming", func(t *testing.T) {
		ctx := newDeadlineContext(context.Background(), time.Hour)
		done := ctx.Done()
		ctx.release()
		waitClosed(t, done, "Done")
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err() = %v, want Canceled", ctx.Err())
		}
	})
}

func TestDeadlineContextFollowsParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx := newDeadlineContext(parent, time.Hour)
	defer ctx.release()
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err() = %v before Done, want Canceled", ctx.Err())
	}
	waitClosed(t, ctx.Done(), "Done")
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err() = %v, want Canceled", ctx.Err())
	}
}

func TestDeadlineContextConcurrentUse(t *testing.T) {
	for range 50 {
		ctx := newDeadlineContext(context.Background(), time.Millisecond)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				if i%2 == 0 {
					<-ctx.Done()
				} else {
					for ctx.Err() == nil {
						time.Sleep(100 * time.Microsecond)
					}
				}
			})
		}
		wg.Go(ctx.release)
		wg.Wait()
		if ctx.Err() == nil {
			t.Fatal("Err() nil after release and deadline")
		}
	}
}

func TestTimeoutMiddlewareDoesNotArmForHandlersThatDoNotWait(t *testing.T) {
	engine := gin.New()
	var got *scopeContext
	engine.GET("/x", RequestScope(time.Hour), func(c *gin.Context) {
		got, _ = c.Request.Context().(*scopeContext)
		c.Status(http.StatusOK)
	})
	engine.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if got == nil {
		t.Fatal("handler context is not the deadline context")
	}
	if got.armed.Load() != nil {
		t.Error("timer armed for a handler that never waited")
	}
	if !errors.Is(got.Err(), context.Canceled) {
		t.Errorf("context not released after the request: Err() = %v", got.Err())
	}
}

func newDeadlineContext(parent context.Context, d time.Duration) *deadlineContext {
	c := &deadlineContext{}
	c.init(parent, d)
	return c
}
