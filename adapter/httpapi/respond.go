package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gintoki/gintoki/adapter/internal/jsonstr"
	"github.com/gintoki/gintoki/domain"
)

// StatusClientClosedRequest is the non-standard code (nginx's) recorded when
// the client went away before the answer was ready.
const StatusClientClosedRequest = 499

// Error codes of the error body.
const (
	codeInvalidArgument  = "invalid_argument"
	codeNotFound         = "not_found"
	codeUnavailable      = "unavailable"
	codeDeadlineExceeded = "deadline_exceeded"
	codeInternal         = "internal"
	codePayloadTooLarge  = "payload_too_large"
	codeMethodNotAllowed = "method_not_allowed"
)

// Header values shared by every response: net/http never modifies them, and
// assigning a shared slice avoids allocating one per response.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	retryAfterOne   = []string{"1"}
)

// maxPooledBuffer keeps a rare huge batch from pinning its buffer forever.
const maxPooledBuffer = 256 << 10

var bufferPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufferPool.Put(b)
}

// chunkingThreshold is net/http's buffer size: a handler that returns having
// written less gets a Content-Length computed for free, a longer body is sent
// chunked unless the length is declared.
const chunkingThreshold = 2048

func writeJSON(c *gin.Context, status int, body []byte) {
	h := c.Writer.Header()
	h["Content-Type"] = jsonContentType
	if len(body) > chunkingThreshold {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	c.Writer.WriteHeader(status)
	// A failed write means the client is gone; there is no one to tell.
	_, _ = c.Writer.Write(body)
}

func appendErrorBody(dst []byte, code, message string) []byte {
	dst = append(dst, `{"error":{"code":"`...)
	dst = append(dst, code...)
	dst = append(dst, `","message":`...)
	dst = jsonstr.AppendHTMLSafe(dst, message)
	return append(dst, "}}"...)
}

// markStale marks a possibly stale answer (stale-if-error): the header
// X-Gintoki-Stale says so, Age (RFC 9111) says for how many seconds it has
// gone unconfirmed. Nothing is added to a fresh answer.
func markStale(c *gin.Context, staleFor time.Duration) {
	if staleFor <= 0 {
		return
	}
	h := c.Writer.Header()
	h[HeaderStale] = staleTrue
	h["Age"] = []string{strconv.FormatInt(int64((staleFor+time.Second-1)/time.Second), 10)}
}

// HeaderStale is set to "true" on an answer that may be stale: the cache
// answered because the database could not, and the change feed could not
// vouch for it (see the README's stale-if-error section).
const HeaderStale = "X-Gintoki-Stale"

var staleTrue = []string{"true"}

// writeError answers with the API's error shape.
func writeError(c *gin.Context, status int, code, message string) {
	buf := getBuffer()
	*buf = appendErrorBody((*buf)[:0], code, message)
	writeJSON(c, status, *buf)
	putBuffer(buf)
}

// readFailure is how a reader error is answered.
type readFailure struct {
	status  int
	code    string
	message string
	// internal: the message is generic and the error must be logged.
	internal bool
}

// classifyReadError maps a reader error to its answer. An error of unknown
// kind while the request context is already done is reported as the
// context's end, because that is almost always what caused it.
func classifyReadError(ctx context.Context, err error, notFoundMessage string) readFailure {
	switch {
	case errors.Is(err, domain.ErrInvalidArgument):
		return readFailure{status: http.StatusBadRequest, code: codeInvalidArgument, message: err.Error()}
	case errors.Is(err, domain.ErrNotFound):
		return readFailure{status: http.StatusNotFound, code: codeNotFound, message: notFoundMessage}
	case errors.Is(err, domain.ErrUnavailable):
		return readFailure{status: http.StatusServiceUnavailable, code: codeUnavailable, message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return deadlineFailure
	case errors.Is(err, context.Canceled):
		return canceledFailure
	}
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return deadlineFailure
	case context.Canceled:
		return canceledFailure
	}
	return readFailure{status: http.StatusInternalServerError, code: codeInternal, message: "internal error", internal: true}
}

var (
	deadlineFailure = readFailure{status: http.StatusGatewayTimeout, code: codeDeadlineExceeded,
		message: "the request did not complete within its deadline"}
	canceledFailure = readFailure{status: StatusClientClosedRequest}
)

// writeFailure answers f; a client that went away gets no body.
func writeFailure(c *gin.Context, f readFailure) {
	switch f.status {
	case StatusClientClosedRequest:
		c.Status(StatusClientClosedRequest)
		return
	case http.StatusServiceUnavailable:
		c.Writer.Header()["Retry-After"] = retryAfterOne
	}
	writeError(c, f.status, f.code, f.message)
}

func respondPanic(c *gin.Context) {
	writeError(c, http.StatusInternalServerError, codeInternal, "internal error")
}

func noRoute(c *gin.Context) {
	writeError(c, http.StatusNotFound, codeNotFound,
		"no route for "+c.Request.Method+" "+truncate(c.Request.URL.Path))
}

func noMethod(c *gin.Context) {
	// Gin has set the Allow header already.
	writeError(c, http.StatusMethodNotAllowed, codeMethodNotAllowed,
		"method "+c.Request.Method+" is not allowed on "+truncate(c.Request.URL.Path))
}

// maxEchoed bounds how much of a client's input an error message repeats.
const maxEchoed = 64

func truncate(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	return s[:maxEchoed] + "..."
}
