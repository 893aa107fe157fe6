package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/adapter/httpapi/middleware"
	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

func TestRequestIDHeader(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	tests := []struct {
		name     string
		incoming []string // header name and value, if any
		keep     bool
	}{
		{"accepted and echoed", []string{"X-Request-ID", "abc-123_XYZ.trace:9"}, true},
		{"lower-case header name", []string{"x-request-id", "from-proxy"}, true},
		{"128 chars kept", []string{"X-Request-ID", strings.Repeat("a", 128)}, true},
		{"generated when absent", nil, false},
		{"empty replaced", []string{"X-Request-ID", ""}, false},
		{"space replaced", []string{"X-Request-ID", "two words"}, false},
		{"control char replaced", []string{"X-Request-ID", "a\x01b"}, false},
		{"non-ASCII replaced", []string{"X-Request-ID", "idé"}, false},
		{"129 chars replaced", []string{"X-Request-ID", strings.Repeat("a", 129)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			reader := &fakeReader{getHook: func(ctx context.Context, id int64) (domain.ProductInventory, error) {
				seen = middleware.RequestIDFrom(ctx)
				return domain.ProductInventory{ProductID: id}, nil
			}}
			rec := get(t, New(Options{Reader: reader}), "/cache?product_id=1", tt.incoming...)
			got := rec.Header().Get("X-Request-ID")
			if tt.keep {
				if got != tt.incoming[1] {
					t.Errorf("X-Request-ID = %q, want the incoming %q", got, tt.incoming[1])
				}
			} else if !generated.MatchString(got) {
				t.Errorf("X-Request-ID = %q, want a generated 16-hex id", got)
			}
			if seen != got {
				t.Errorf("reader saw request id %q, response carries %q", seen, got)
			}
		})
	}
}

func TestGeneratedRequestIDsDiffer(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	seen := map[string]bool{}
	for range 50 {
		id := get(t, h, "/healthz").Header().Get("X-Request-ID")
		if seen[id] {
			t.Fatalf("request id %q generated twice", id)
		}
		seen[id] = true
	}
}

func TestRequestIDOnErrorAndUnmatchedResponses(t *testing.T) {
	h := New(Options{Reader: sampleReader()})
	for _, target := range []string{"/cache?product_id=x", "/nope"} {
		if got := get(t, h, target, "X-Request-ID", "r1").Header().Get("X-Request-ID"); got != "r1" {
			t.Errorf("%s: X-Request-ID = %q, want r1", target, got)
		}
	}
}

func TestPanickingReaderIsRecovered(t *testing.T) {
	var logs logtest.Buffer
	reader := &fakeReader{getHook: func(context.Context, int64) (domain.ProductInventory, error) {
		panic("reader exploded")
	}}
	h := New(Options{Reader: reader, Logger: newLogger(&logs)})
	rec := get(t, h, "/v1/products/1/inventory", "X-Request-ID", "req-panic")
	assertResponse(t, rec, http.StatusInternalServerError, `{"error":{"code":"internal","message":"internal error"}}`)
	if got := rec.Header().Get("X-Request-ID"); got != "req-panic" {
		t.Errorf("X-Request-ID = %q after a panic", got)
	}

	var entry map[string]any
	lines := logs.Lines()
	if len(lines) != 1 {
		t.Fatalf("want 1 log line, got %d: %s", len(lines), logs.String())
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry["request_id"] != "req-panic" || entry["panic"] != "reader exploded" || entry["level"] != "ERROR" {
		t.Errorf("panic log entry = %v", entry)
	}
	if stack, _ := entry["stack"].(string); !strings.Contains(stack, "goroutine") {
		t.Errorf("panic log has no stack: %q", stack)
	}

	// The engine keeps serving.
	reader.getHook = nil
	reader.products = map[int64][]domain.WarehouseStock{1: nil}
	assertResponse(t, get(t, h, "/v1/products/1/inventory"), http.StatusOK, `{"product_id":1,"warehouses":[]}`)
}

func TestAccessLogSampling(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		lines int
	}{
		{"off by default", Options{}, 0},
		{"every 2nd", Options{AccessLog: true, AccessLogSampleEvery: 2}, 5},
		{"every request", Options{AccessLog: true, AccessLogSampleEvery: 1}, 10},
		{"default 1 in 100", Options{AccessLog: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logtest.Buffer
			tt.opts.Reader = sampleReader()
			tt.opts.Logger = newLogger(&logs)
			h := New(tt.opts)
			for range 10 {
				get(t, h, "/cache?product_id=35586")
			}
			if got := len(logs.Lines()); got != tt.lines {
				t.Fatalf("logged %d lines for 10 requests, want %d:\n%s", got, tt.lines, logs.String())
			}
		})
	}
}

func TestAccessLogFields(t *testing.T) {
	var logs logtest.Buffer
	h := New(Options{Reader: sampleReader(), Logger: newLogger(&logs), AccessLog: true, AccessLogSampleEvery: 1})
	get(t, h, "/v1/products/404/inventory", "X-Request-ID", "req-log")
	get(t, h, "/no/such/path")

	lines := logs.Lines()
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", lines)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"method": "GET", "route": RouteProductByID, "status": float64(404), "request_id": "req-log"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("access log %s = %v, want %v (entry %v)", k, first[k], v, first)
		}
	}
	if _, ok := first["duration"].(float64); !ok {
		t.Errorf("access log has no numeric duration: %v", first)
	}
	if second["route"] != "unmatched" {
		t.Errorf("unmatched request logged with route %v, want unmatched", second["route"])
	}
}
