package middleware

import (
	"context"
	"math/rand/v2"

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

// WithRequestID returns a context carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return &requestIDContext{Context: ctx, id: id}
}

// RequestIDFrom returns the request id stored in ctx, or "" if there is none.
func RequestIDFrom(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestIDContext); ok {
		return c.id
	}
	return ""
}

// RequestID accepts a sane incoming X-Request-ID (so a caller can follow its
// request through our logs) or makes a new one, echoes it in the response and
// stores it in the request context.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		var id string
		if v := c.Request.Header[HeaderRequestID]; len(v) > 0 && validRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID()
		}
		ctx := &requestIDContext{Context: c.Request.Context(), id: id, header: [1]string{id}}
		c.Writer.Header()[HeaderRequestID] = ctx.header[:]
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
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
