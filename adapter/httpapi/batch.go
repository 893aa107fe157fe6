package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/gintoki/gintoki/domain"
)

// MaxBatchBodyBytes bounds the batch request body: 1000 ids of 19 digits
// fit easily, and nobody can make the server buffer more.
const MaxBatchBodyBytes = 1 << 20

// batchRequest is the body of POST /v1/product-inventory. Unknown fields are
// ignored so clients may send more than we read.
type batchRequest struct {
	ProductIDs []int64 `json:"product_ids"`
}

// batch serves POST /v1/product-inventory. The body is read as JSON whatever
// its Content-Type says.
func (h *inventoryHandlers) batch(c *gin.Context) {
	ctx := c.Request.Context()
	buf := getBuffer()
	defer putBuffer(buf)

	if c.Request.ContentLength > MaxBatchBodyBytes {
		writeBodyTooLarge(c)
		return
	}
	// The body is read under the request's deadline too: a client that
	// stops sending mid-body gets its answer (504) and loses the
	// connection when the request times out, not when the server's
	// whole-request read timeout comes.
	if dl, ok := ctx.Deadline(); ok {
		_ = http.NewResponseController(c.Writer).SetReadDeadline(dl)
	}
	body, err := readAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBatchBodyBytes), (*buf)[:0])
	*buf = body
	if err != nil {
		h.writeBodyReadError(c, ctx, err)
		return
	}
	ids, err := decodeProductIDs(body)
	if err == nil {
		err = validateBatch(ids)
	}
	if err != nil {
		writeError(c, http.StatusBadRequest, codeInvalidArgument, err.Error())
		return
	}

	after, ok := readAfter(c)
	if !ok {
		return
	}
	var res domain.BatchResult
	if after == nil {
		res, err = h.reader.BatchGetProductInventory(ctx, ids)
	} else {
		var src domain.ReadSource
		res, src, err = h.reader.BatchGetProductInventoryAfter(ctx, ids, after)
		markSource(c, src, err)
	}
	if err != nil {
		f := classifyReadError(ctx, err, err.Error())
		if f.internal {
			h.logInternal(c, err)
		}
		writeFailure(c, f)
		return
	}
	markStale(c, res.StaleFor)
	*buf = appendBatch((*buf)[:0], res)
	writeJSON(c, http.StatusOK, *buf)
}

func (h *inventoryHandlers) writeBodyReadError(c *gin.Context, ctx context.Context, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeBodyTooLarge(c)
		return
	}
	// The read deadline (the request's) passed mid-body; the server has
	// cancelled the context by now, which alone would read as the client
	// going away.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		writeFailure(c, deadlineFailure)
		return
	}
	if ctx.Err() != nil {
		writeFailure(c, classifyReadError(ctx, ctx.Err(), ""))
		return
	}
	writeError(c, http.StatusBadRequest, codeInvalidArgument, "could not read the request body")
}

func writeBodyTooLarge(c *gin.Context) {
	writeError(c, http.StatusRequestEntityTooLarge, codePayloadTooLarge,
		fmt.Sprintf("request body must not exceed %d bytes", MaxBatchBodyBytes))
}

// readAll reads r to the end, appending to buf so a pooled buffer is reused.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decodeProductIDs reads the ids from body, or returns a caller-facing
// message. The usual body takes a hand-written scanner; anything it does
// not recognise goes to encoding/json, which decides what is valid.
// decodeProductIDs reads a batch body; its errors are caller-facing.
func decodeProductIDs(body []byte) ([]int64, error) {
	if ids, ok := scanProductIDs(body); ok {
		return ids, nil
	}
	var req batchRequest
	err := json.Unmarshal(body, &req)
	if err == nil {
		return req.ProductIDs, nil
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return nil, fmt.Errorf("request body is not valid JSON: %w", err)
	}
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if ute.Field == "" {
			return nil, errors.New(`request body must be a JSON object like {"product_ids":[1,2,3]}, got ` + ute.Value)
		}
		return nil, errors.New("product_ids must be an array of positive integers, got " + ute.Value)
	}
	return nil, fmt.Errorf("request body is not a valid batch request: %w", err)
}

func validateBatch(ids []int64) error {
	if len(ids) == 0 {
		return errors.New("product_ids must not be empty")
	}
	if len(ids) > domain.MaxBatchSize {
		return fmt.Errorf("product_ids holds %d ids, at most %d are allowed", len(ids), domain.MaxBatchSize)
	}
	for i, id := range ids {
		if id <= 0 {
			return fmt.Errorf("product_ids[%d] must be a positive integer, got %d", i, id)
		}
	}
	return nil
}

// scanProductIDs accepts exactly {"product_ids":[int,...]} with optional
// whitespace, integers in JSON syntax that fit in int64. It reports false
// for everything else, including valid JSON it does not handle (other
// fields, escapes, null), which then goes through encoding/json.
func scanProductIDs(body []byte) ([]int64, bool) {
	s := scanner{b: body}
	if !s.lit(`{`) || !s.lit(`"product_ids"`) || !s.lit(`:`) || !s.lit(`[`) {
		return nil, false
	}
	// Every id but the last is followed by a comma: an exact capacity.
	ids := make([]int64, 0, bytes.Count(body[s.i:], comma)+1)
	if !s.lit(`]`) {
		for {
			n, ok := s.int()
			if !ok {
				return nil, false
			}
			ids = append(ids, n)
			if s.lit(`]`) {
				break
			}
			if !s.lit(`,`) {
				return nil, false
			}
		}
	}
	if !s.lit(`}`) {
		return nil, false
	}
	s.space()
	return ids, s.i == len(s.b)
}

var comma = []byte(",")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit skips whitespace and then lit, if lit is next.
func (s *scanner) lit(lit string) bool {
	s.space()
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// int reads a JSON integer (no fraction or exponent) that fits in int64.
func (s *scanner) int() (int64, bool) {
	s.space()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var n uint64
	for ; s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'; s.i++ {
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(s.b[s.i]-'0')
	}
	digits := s.i - start
	if digits == 0 || digits > 1 && s.b[start] == '0' {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}
