package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProductID(t *testing.T) {
	tests := []struct {
		query  string
		want   int64
		wantOK bool
	}{
		{"product_id=35586", 35586, true},
		{"a=1&product_id=7&b=2", 7, true},
		{"product_id=1&product_id=2", 1, true},
		{"", 0, false},
		{"id=3", 0, false},
		{"product_id=", 0, false},
		{"product_id=0", 0, false},
		{"product_id=-4", 0, false},
		{"product_id=abc", 0, false},
		{"product_id=99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := productID(tt.query)
		if got != tt.want && tt.wantOK || ok != tt.wantOK {
			t.Errorf("productID(%q) = %d, %v; want %d, %v", tt.query, got, ok, tt.want, tt.wantOK)
		}
	}
}

// The body `gintoki serve` answered for product 35586 of a 100000 x 3 seed.
const servedBody35586 = `{"product_id":35586,"warehouses":[{"warehouse_code":"WH-001","qty_salable":731},` +
	`{"warehouse_code":"WH-002","qty_salable":666},{"warehouse_code":"WH-003","qty_salable":88}]}`

func TestHandlerAnswersWhatTheServiceAnswers(t *testing.T) {
	h := &handler{bodies: seededBodies(40000, 3)}
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantBody   string
	}{
		{"seeded product", http.MethodGet, "/cache?product_id=35586", http.StatusOK, servedBody35586},
		{"beyond the seed", http.MethodGet, "/cache?product_id=40001", http.StatusNotFound,
			`{"error":{"code":"not_found","message":"product 40001 not found"}}`},
		{"bad id", http.MethodGet, "/cache?product_id=x", http.StatusBadRequest,
			`{"error":{"code":"invalid_argument","message":"product_id must be a positive integer"}}`},
		{"wrong method", http.MethodPost, "/cache?product_id=1", http.StatusMethodNotAllowed,
			`{"error":{"code":"method_not_allowed","message":"use GET"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody {
				t.Fatalf("got %d %s; want %d %s", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
}

func TestSeededBodiesPadCodesToTheWarehouseCount(t *testing.T) {
	bodies := seededBodies(1, 1000)
	const prefix = `{"product_id":1,"warehouses":[{"warehouse_code":"WH-0001","qty_salable":`
	if got := string(bodies[1][:len(prefix)]); got != prefix {
		t.Fatalf("body starts %s, want %s", got, prefix)
	}
}
