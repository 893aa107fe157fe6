package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

func TestGetInventoryOK(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	tests := []struct {
		target string
		body   string
	}{
		{"/cache?product_id=35586", `{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]}`},
		{"/v1/products/35586/inventory", `{"product_id":35586,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12}]}`},
		{"/cache?product_id=7", `{"product_id":7,"warehouses":[{"warehouse_code":"WH-A","qty_salable":1},{"warehouse_code":"WH-B","qty_salable":0},{"warehouse_code":"WH-C","qty_salable":-3}]}`},
		{"/v1/products/8/inventory", `{"product_id":8,"warehouses":[]}`},
		// Other parameters, and escaped forms net/url decodes, still work.
		{"/cache?x=1&product_id=7&product_id=8", `{"product_id":7,"warehouses":[{"warehouse_code":"WH-A","qty_salable":1},{"warehouse_code":"WH-B","qty_salable":0},{"warehouse_code":"WH-C","qty_salable":-3}]}`},
		{"/cache?product%5Fid=%38", `{"product_id":8,"warehouses":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			assertResponse(t, get(t, h, tt.target), http.StatusOK, tt.body)
		})
	}
}

func TestGetInventoryEscapesWarehouseCodes(t *testing.T) {
	reader := &fakeReader{products: map[int64][]domain.WarehouseStock{
		1: {{WarehouseCode: `A"\` + "\n<ü>", QtySalable: 2}},
	}}
	rec := get(t, New(Options{Reader: reader}), "/cache?product_id=1")
	assertResponse(t, rec, http.StatusOK,
		`{"product_id":1,"warehouses":[{"warehouse_code":"A\"\\\n\u003cü\u003e","qty_salable":2}]}`)
}

func TestGetInventoryPassesIDToReader(t *testing.T) {
	reader := sampleReader()
	h := New(Options{Reader: reader})
	get(t, h, "/cache?product_id=35586")
	get(t, h, "/v1/products/7/inventory")
	if fmt.Sprint(reader.gotIDs) != "[35586 7]" {
		t.Fatalf("reader got ids %v, want [35586 7]", reader.gotIDs)
	}
}

func TestGetInventoryInvalidID(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	tests := []struct {
		name    string
		target  string
		message string
	}{
		{"missing", "/cache", `product_id query parameter is required`},
		{"missing among others", "/cache?id=5", `product_id query parameter is required`},
		{"empty", "/cache?product_id=", `product_id must be a positive integer, got \"\"`},
		{"letters", "/cache?product_id=abc", `product_id must be a positive integer, got \"abc\"`},
		{"zero", "/cache?product_id=0", `product_id must be a positive integer, got \"0\"`},
		{"negative", "/cache?product_id=-5", `product_id must be a positive integer, got \"-5\"`},
		{"fraction", "/cache?product_id=1.5", `product_id must be a positive integer, got \"1.5\"`},
		{"overflow", "/cache?product_id=9223372036854775808", `product_id must be a positive integer of at most 9223372036854775807, got \"9223372036854775808\"`},
		{"path letters", "/v1/products/abc/inventory", `product id must be a positive integer, got \"abc\"`},
		{"path zero", "/v1/products/0/inventory", `product id must be a positive integer, got \"0\"`},
		{"path negative", "/v1/products/-1/inventory", `product id must be a positive integer, got \"-1\"`},
		{"path overflow", "/v1/products/99999999999999999999/inventory", `product id must be a positive integer of at most 9223372036854775807, got \"99999999999999999999\"`},
		{"long input is cut", "/cache?product_id=" + strings.Repeat("x", 100), `product_id must be a positive integer, got \"` + strings.Repeat("x", 64) + `...\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.target)
			assertResponse(t, rec, http.StatusBadRequest,
				`{"error":{"code":"invalid_argument","message":"`+tt.message+`"}}`)
		})
	}
}

func TestGetInventoryReaderNotCalledForInvalidID(t *testing.T) {
	reader := sampleReader()
	h := New(Options{Reader: reader})
	get(t, h, "/cache?product_id=abc")
	get(t, h, "/v1/products/0/inventory")
	if n := reader.calls(); n != 0 {
		t.Fatalf("reader called %d times for invalid ids", n)
	}
}

func TestGetInventoryReaderErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{"not found", domain.NotFoundf("product 42 has no stock"), http.StatusNotFound,
			`{"error":{"code":"not_found","message":"product 42 not found"}}`, ""},
		{"bare not found", domain.ErrNotFound, http.StatusNotFound,
			`{"error":{"code":"not_found","message":"product 42 not found"}}`, ""},
		{"invalid argument", domain.InvalidArgumentf("product_id 42 is reserved"), http.StatusBadRequest,
			`{"error":{"code":"invalid_argument","message":"product_id 42 is reserved"}}`, ""},
		{"unavailable", domain.Unavailablef("database is overloaded, retry later"), http.StatusServiceUnavailable,
			`{"error":{"code":"unavailable","message":"database is overloaded, retry later"}}`, "1"},
		{"wrapped unavailable", fmt.Errorf("load product 42: %w", domain.ErrUnavailable), http.StatusServiceUnavailable,
			`{"error":{"code":"unavailable","message":"load product 42: unavailable"}}`, "1"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), http.StatusGatewayTimeout,
			`{"error":{"code":"deadline_exceeded","message":"the request did not complete within its deadline"}}`, ""},
		{"canceled", context.Canceled, StatusClientClosedRequest, ``, ""},
		{"internal", errors.New("driver: bad connection to 10.0.0.1"), http.StatusInternalServerError,
			`{"error":{"code":"internal","message":"internal error"}}`, ""},
	}
	for _, tt := range tests {
		for _, target := range []string{"/cache?product_id=42", "/v1/products/42/inventory"} {
			t.Run(tt.name+" "+target, func(t *testing.T) {
				h := New(Options{Reader: &fakeReader{err: tt.err}})
				rec := get(t, h, target)
				assertResponse(t, rec, tt.status, tt.body)
				if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
				}
			})
		}
	}
}

func TestInternalErrorIsLoggedWithRequestID(t *testing.T) {
	var logs logtest.Buffer
	h := New(Options{Reader: &fakeReader{err: errors.New("driver: bad connection")}, Logger: newLogger(&logs)})
	rec := get(t, h, "/cache?product_id=42", "X-Request-ID", "req-internal-1")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "bad connection") {
		t.Errorf("internal detail leaked to the client: %s", rec.Body.String())
	}
	out := logs.String()
	for _, want := range []string{`"level":"ERROR"`, `"request_id":"req-internal-1"`, `driver: bad connection`, `"route":"/cache"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

func TestRequestTimeoutAnswers504AndReaderSeesDeadline(t *testing.T) {
	var sawDeadline bool
	reader := &fakeReader{getHook: func(ctx context.Context, _ int64) (domain.ProductInventory, error) {
		_, sawDeadline = ctx.Deadline()
		<-ctx.Done() // block until the request timeout fires
		return domain.ProductInventory{}, ctx.Err()
	}}
	h := New(Options{Reader: reader, RequestTimeout: 20 * time.Millisecond})
	for _, target := range []string{"/cache?product_id=1", "/v1/products/1/inventory"} {
		sawDeadline = false
		rec := get(t, h, target)
		assertErrorCode(t, rec, http.StatusGatewayTimeout, codeDeadlineExceeded)
		if !sawDeadline {
			t.Errorf("%s: reader context had no deadline", target)
		}
	}
}

func TestOpaqueErrorAfterTimeoutIsDeadline(t *testing.T) {
	reader := &fakeReader{getHook: func(ctx context.Context, _ int64) (domain.ProductInventory, error) {
		<-ctx.Done()
		return domain.ProductInventory{}, errors.New("driver: i/o timeout")
	}}
	h := New(Options{Reader: reader, RequestTimeout: 10 * time.Millisecond})
	assertErrorCode(t, get(t, h, "/cache?product_id=1"), http.StatusGatewayTimeout, codeDeadlineExceeded)
}

func TestDefaultRequestTimeoutIsApplied(t *testing.T) {
	var deadline time.Time
	var ok bool
	reader := &fakeReader{getHook: func(ctx context.Context, id int64) (domain.ProductInventory, error) {
		deadline, ok = ctx.Deadline()
		return domain.ProductInventory{ProductID: id}, nil
	}}
	start := time.Now()
	get(t, New(Options{Reader: reader}), "/cache?product_id=1")
	if !ok {
		t.Fatal("reader context had no deadline")
	}
	// Compared with generous bounds: this checks the configured value, not speed.
	if d := deadline.Sub(start); d < 4*time.Second || d > 6*time.Second {
		t.Fatalf("deadline %v after start, want about %v", d, DefaultRequestTimeout)
	}
}

func TestClientGoneAnswers499(t *testing.T) {
	reader := &fakeReader{getHook: func(ctx context.Context, _ int64) (domain.ProductInventory, error) {
		<-ctx.Done()
		return domain.ProductInventory{}, ctx.Err()
	}}
	h := New(Options{Reader: reader})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/cache?product_id=1", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != StatusClientClosedRequest {
		t.Fatalf("status = %d, want 499", rec.Code)
	}
}

func TestNilReaderAnswersUnavailable(t *testing.T) {
	h := New(Options{})
	assertErrorCode(t, get(t, h, "/cache?product_id=1"), http.StatusServiceUnavailable, codeUnavailable)
	assertErrorCode(t, post(t, h, "/v1/product-inventory", `{"product_ids":[1]}`), http.StatusServiceUnavailable, codeUnavailable)
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	assertResponse(t, get(t, h, "/nope"), http.StatusNotFound,
		`{"error":{"code":"not_found","message":"no route for GET /nope"}}`)
	assertResponse(t, get(t, h, "/cache/"), http.StatusNotFound,
		`{"error":{"code":"not_found","message":"no route for GET /cache/"}}`)

	rec := post(t, h, "/cache?product_id=1", "")
	assertResponse(t, rec, http.StatusMethodNotAllowed,
		`{"error":{"code":"method_not_allowed","message":"method POST is not allowed on /cache"}}`)
	if got := rec.Header().Get("Allow"); got != "GET" {
		t.Errorf("Allow = %q, want GET", got)
	}
	rec = get(t, h, "/v1/product-inventory")
	assertErrorCode(t, rec, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	if got := rec.Header().Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q, want POST", got)
	}
}
