package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

func TestBatchOK(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	tests := []struct {
		name string
		body string
		want string
	}{
		{"found and not found in request order", `{"product_ids":[7,404,35586,8]}`,
			`{"data":[{"product_id":7,"warehouses":[{"warehouse_code":"WH-A","qty_salable":1},{"warehouse_code":"WH-B","qty_salable":0},{"warehouse_code":"WH-C","qty_salable":-3}]},{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]},{"product_id":8,"warehouses":[]}],"not_found":[404]}`},
		{"all found", `{"product_ids":[35586]}`,
			`{"data":[{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]}],"not_found":[]}`},
		{"none found", `{"product_ids":[1,2]}`, `{"data":[],"not_found":[1,2]}`},
		{"whitespace", " {\n\t\"product_ids\" : [ 35586 ] }\n", `{"data":[{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]}],"not_found":[]}`},
		{"unknown fields ignored", `{"trace":"x","product_ids":[1],"more":{"a":[1,2]}}`, `{"data":[],"not_found":[1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertResponse(t, post(t, h, "/v1/product-inventory", tt.body, "Content-Type", "application/json"), http.StatusOK, tt.want)
		})
	}
}

func TestBatchIgnoresContentType(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		rec := post(t, h, "/v1/product-inventory", `{"product_ids":[1]}`, "Content-Type", ct)
		assertResponse(t, rec, http.StatusOK, `{"data":[],"not_found":[1]}`)
	}
}

func TestBatchPassesIDsToReader(t *testing.T) {
	reader := sampleReader()
	post(t, New(Options{Reader: reader}), "/v1/product-inventory", `{"product_ids":[3,1,2,1]}`)
	if want := [][]int64{{3, 1, 2, 1}}; !reflect.DeepEqual(reader.gotBatch, want) {
		t.Fatalf("reader got %v, want %v", reader.gotBatch, want)
	}
}

func TestBatchInvalidRequest(t *testing.T) {
	ids := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprint(i + 1)
		}
		return `{"product_ids":[` + strings.Join(parts, ",") + `]}`
	}
	tests := []struct {
		name    string
		body    string
		message string // "" means only the code is checked
	}{
		{"empty body", ``, `request body is not valid JSON: unexpected end of JSON input`},
		{"not json", `product_ids=1`, ""},
		{"truncated", `{"product_ids":[1,2`, ""},
		{"trailing garbage", `{"product_ids":[1]} x`, ""},
		{"top-level array", `[1,2,3]`, `request body must be a JSON object like {\"product_ids\":[1,2,3]}, got array`},
		{"string id", `{"product_ids":["1"]}`, `product_ids must be an array of positive integers, got string`},
		{"fraction", `{"product_ids":[1.5]}`, `product_ids must be an array of positive integers, got number 1.5`},
		{"overflow", `{"product_ids":[9223372036854775808]}`, `product_ids must be an array of positive integers, got number 9223372036854775808`},
		{"not an array", `{"product_ids":5}`, `product_ids must be an array of positive integers, got number`},
		{"zero", `{"product_ids":[1,0]}`, `product_ids[1] must be a positive integer, got 0`},
		{"negative", `{"product_ids":[-4]}`, `product_ids[0] must be a positive integer, got -4`},
		{"empty list", `{"product_ids":[]}`, `product_ids must not be empty`},
		{"missing field", `{}`, `product_ids must not be empty`},
		{"null list", `{"product_ids":null}`, `product_ids must not be empty`},
		{"null body", `null`, `product_ids must not be empty`},
		{"1001 ids", ids(1001), `product_ids holds 1001 ids, at most 1000 are allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := sampleReader()
			rec := post(t, New(Options{Reader: reader}), "/v1/product-inventory", tt.body)
			if tt.message == "" {
				assertErrorCode(t, rec, http.StatusBadRequest, codeInvalidArgument)
			} else {
				assertResponse(t, rec, http.StatusBadRequest,
					`{"error":{"code":"invalid_argument","message":"`+tt.message+`"}}`)
			}
			if n := reader.calls(); n != 0 {
				t.Errorf("reader called %d times for an invalid batch", n)
			}
		})
	}
}

func TestBatchOf1000IsAccepted(t *testing.T) {
	parts := make([]string, domain.MaxBatchSize)
	for i := range parts {
		parts[i] = fmt.Sprint(i + 1)
	}
	reader := sampleReader()
	rec := post(t, New(Options{Reader: reader}), "/v1/product-inventory", `{"product_ids":[`+strings.Join(parts, ",")+`]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body.String())
	}
	if len(reader.gotBatch) != 1 || len(reader.gotBatch[0]) != domain.MaxBatchSize {
		t.Fatalf("reader did not get the 1000 ids")
	}
	// A body past net/http's buffer declares its length instead of being chunked.
	if got, want := rec.Header().Get("Content-Length"), fmt.Sprint(rec.Body.Len()); got != want {
		t.Errorf("Content-Length = %q, want %s", got, want)
	}
}

func TestBatchBodyTooLarge(t *testing.T) {
	reader := sampleReader()
	h := New(Options{Reader: reader})
	// Valid JSON, padded with whitespace past the limit.
	body := `{"product_ids":[1]` + strings.Repeat(" ", MaxBatchBodyBytes) + `}`
	rec := post(t, h, "/v1/product-inventory", body)
	assertResponse(t, rec, http.StatusRequestEntityTooLarge,
		`{"error":{"code":"payload_too_large","message":"request body must not exceed 1048576 bytes"}}`)
	if reader.calls() != 0 {
		t.Error("reader called for an oversized body")
	}

	// A declared length over the limit is refused before reading.
	req := httptest.NewRequest(http.MethodPost, "/v1/product-inventory", strings.NewReader(`{"product_ids":[1]}`))
	req.ContentLength = MaxBatchBodyBytes + 1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assertErrorCode(t, rec, http.StatusRequestEntityTooLarge, codePayloadTooLarge)

	// Exactly at the limit is fine.
	body = `{"product_ids":[1]}`
	body += strings.Repeat(" ", MaxBatchBodyBytes-len(body))
	assertResponse(t, post(t, h, "/v1/product-inventory", body), http.StatusOK, `{"data":[],"not_found":[1]}`)
}

func TestBatchReaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"invalid argument", domain.InvalidArgumentf("product_ids holds 1001 ids"), http.StatusBadRequest,
			`{"error":{"code":"invalid_argument","message":"product_ids holds 1001 ids"}}`},
		{"unavailable", domain.Unavailablef("database is down"), http.StatusServiceUnavailable,
			`{"error":{"code":"unavailable","message":"database is down"}}`},
		{"not found", domain.NotFoundf("none of the products exist"), http.StatusNotFound,
			`{"error":{"code":"not_found","message":"none of the products exist"}}`},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout,
			`{"error":{"code":"deadline_exceeded","message":"the request did not complete within its deadline"}}`},
		{"canceled", context.Canceled, StatusClientClosedRequest, ``},
		{"internal", fmt.Errorf("scan rows: %w", errBoom), http.StatusInternalServerError,
			`{"error":{"code":"internal","message":"internal error"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(t, New(Options{Reader: &fakeReader{err: tt.err}}), "/v1/product-inventory", `{"product_ids":[1,2]}`)
			assertResponse(t, rec, tt.status, tt.body)
			wantRetry := ""
			if tt.status == http.StatusServiceUnavailable {
				wantRetry = "1"
			}
			if got := rec.Header().Get("Retry-After"); got != wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, wantRetry)
			}
		})
	}
}

var errBoom = fmt.Errorf("boom")

func TestBatchTimeoutReachesReader(t *testing.T) {
	reader := &blockingBatchReader{}
	h := New(Options{Reader: reader, RequestTimeout: 20 * time.Millisecond})
	rec := post(t, h, "/v1/product-inventory", `{"product_ids":[1]}`)
	assertErrorCode(t, rec, http.StatusGatewayTimeout, codeDeadlineExceeded)
	if !reader.sawDeadline {
		t.Error("batch reader context had no deadline")
	}
}

type blockingBatchReader struct {
	fakeReader
	sawDeadline bool
}

func (b *blockingBatchReader) BatchGetProductInventory(ctx context.Context, _ []int64) (domain.BatchResult, error) {
	_, b.sawDeadline = ctx.Deadline()
	<-ctx.Done()
	return domain.BatchResult{}, ctx.Err()
}

func TestScanProductIDs(t *testing.T) {
	tests := []struct {
		body string
		ids  []int64
		ok   bool
	}{
		{`{"product_ids":[1,2,3]}`, []int64{1, 2, 3}, true},
		{` { "product_ids" : [ ] } `, []int64{}, true},
		{`{"product_ids":[-9223372036854775808,9223372036854775807]}`, []int64{-9223372036854775808, 9223372036854775807}, true},
		{`{"product_ids":[9223372036854775808]}`, nil, false},
		{`{"product_ids":[-9223372036854775809]}`, nil, false},
		{`{"product_ids":[01]}`, nil, false},
		{`{"product_ids":[1e3]}`, nil, false},
		{`{"product_ids":[1.0]}`, nil, false},
		{`{"product_ids":[1,]}`, nil, false},
		{`{"product_ids":[-]}`, nil, false},
		{`{"PRODUCT_IDS":[1]}`, nil, false},
		{`{"product_ids":[1],"x":1}`, nil, false},
		{`{"product_ids":[1]}x`, nil, false},
	}
	for _, tt := range tests {
		ids, ok := scanProductIDs([]byte(tt.body))
		if ok != tt.ok || (ok && !reflect.DeepEqual(ids, tt.ids)) {
			t.Errorf("scanProductIDs(%s) = %v, %v; want %v, %v", tt.body, ids, ok, tt.ids, tt.ok)
		}
	}
}

// FuzzScanProductIDs checks the fast scanner against encoding/json: whatever
// it accepts, encoding/json must accept and decode to the same ids.
func FuzzScanProductIDs(f *testing.F) {
	for _, s := range []string{`{"product_ids":[1,2,3]}`, `{"product_ids":[]}`, ` {"product_ids" :[ -0 , 10 ]}`,
		`{"product_ids":[1e2]}`, `{"product_ids":[00]}`, `{"product_ids":[9223372036854775807]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, ok := scanProductIDs(body)
		if !ok {
			return
		}
		var req batchRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("scanner accepted %q, encoding/json rejects it: %v", body, err)
		}
		if len(ids) != len(req.ProductIDs) || (len(ids) > 0 && !reflect.DeepEqual(ids, req.ProductIDs)) {
			t.Fatalf("scanner read %v from %q, encoding/json %v", ids, body, req.ProductIDs)
		}
	})
}
