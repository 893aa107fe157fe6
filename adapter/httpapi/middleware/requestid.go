package middleware

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/gin-gonic/gin"
)

// HeaderRequestID is the request id header in canonical form; indexing the
// header map with it skips the canonicalisation Header.Get would do.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds an accepted incoming id so a client cannot make
// every log line of its request arbitrarily large.
const maxRequestIDLen = 128

type requestIDKey struct{}

// requestIDContext carries the id as a field, and the response header value
// too, so both cost one allocation; lookups return the pointer itself, so
// reading the id allocates nothing.
type requestIDContext struct {
	context.Context
	id     string
	header [1]string
}

func (c *requestIDContext) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestIDFrom returns the request id stored in ctx, or "" if there is none.
func RequestIDFrom(ctx context.Context) string {
	switch c := ctx.Value(requestIDKey{}).(type) {
	case *requestIDContext:
		return c.id
	case *scopeContext:
		return c.id
	}
	return ""
}

// RequestID accepts a sane incoming X-Request-ID (so a caller can follow its
// request through our logs) or makes a new one, echoes it in the response and
// stores it in the request context.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := requestIDOf(c)
		ctx := &requestIDContext{Context: c.Request.Context(), id: id, header: [1]string{id}}
		c.Writer.Header()[HeaderRequestID] = ctx.header[:]
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// RequestScope is RequestID plus a request deadline d, in one context. Each
// Request.WithContext copies the whole *http.Request, and on a cached read
// those copies were a fifth of all the bytes the server allocated: API
// routes take this one instead of the two.
func RequestScope(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := requestIDOf(c)
		ctx := &scopeContext{id: id, header: [1]string{id}}
		ctx.init(c.Request.Context(), d)
		defer ctx.release()
		c.Writer.Header()[HeaderRequestID] = ctx.header[:]
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// scopeContext is a deadlineContext that also carries the request id.
type scopeContext struct {
	deadlineContext
	id     string
	header [1]string
}

func (c *scopeContext) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.deadlineContext.Value(key)
}

func (c *scopeContext) String() string { return "httpapi.scopeContext" }

// requestIDOf takes a sane incoming id or makes a new one.
func requestIDOf(c *gin.Context) string {
	if v := c.Request.Header[HeaderRequestID]; len(v) > 0 && validRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// validRequestID accepts 1 to 128 visible ASCII characters: anything else
// (spaces, control characters, non-ASCII) could forge or garble log lines.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 64 random bits in hex. It only has to tell requests
// apart in logs, so the runtime's fast generator is enough; crypto/rand
// would cost a syscall-backed read per request.
func newRequestID() string {
	const hexDigits = "0123456789abcdef"
	var buf [16]byte
	n := rand.Uint64()
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}
