package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/domain"
)

// discardWriter is a reusable ResponseWriter, so the benchmarks measure the
// engine and not httptest.ResponseRecorder's buffers.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header    { return w.header }
func (w *discardWriter) WriteHeader(status int) { w.status = status }

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.header)
	w.status, w.n = 0, 0
}

// rewindBody replays the same request body on every iteration.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// mapReader is the benchmarks' reader: a map lookup and nothing else, like
// a cache hit without the decoding.
type mapReader map[int64]domain.ProductInventory

func (m mapReader) GetProductInventory(_ context.Context, id int64) (domain.ProductInventory, error) {
	inv, ok := m[id]
	if !ok {
		return domain.ProductInventory{}, domain.ErrNotFound
	}
	return inv, nil
}

func (m mapReader) GetProductInventoryAfter(ctx context.Context, id int64, _ domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	inv, err := m.GetProductInventory(ctx, id)
	return inv, domain.FromCache, err
}

func (m mapReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, _ domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	res, err := m.BatchGetProductInventory(ctx, ids)
	return res, domain.FromCache, err
}

func (m mapReader) BatchGetProductInventory(_ context.Context, ids []int64) (domain.BatchResult, error) {
	res := domain.BatchResult{Found: make([]domain.ProductInventory, 0, len(ids))}
	for _, id := range ids {
		if inv, ok := m[id]; ok {
			res.Found = append(res.Found, inv)
		} else {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, nil
}

func benchReader(products int) mapReader {
	r := mapReader{}
	for id := int64(1); id <= int64(products); id++ {
		r[id] = domain.ProductInventory{ProductID: id, Warehouses: []domain.WarehouseStock{
			{WarehouseCode: "WH-A", QtySalable: 12},
			{WarehouseCode: "WH-B", QtySalable: 340},
			{WarehouseCode: "WH-C", QtySalable: 0},
		}}
	}
	return r
}

// benchEngine is configured as in production: metrics on, tracing and
// access log off.
func benchEngine(reader Reader) http.Handler {
	return New(Options{Reader: reader, Registerer: prometheus.NewRegistry()})
}

func benchGet(b *testing.B, h http.Handler, target string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

func BenchmarkGetCache(b *testing.B) {
	benchGet(b, benchEngine(benchReader(1)), "/cache?product_id=1")
}

func BenchmarkGetProductByPath(b *testing.B) {
	benchGet(b, benchEngine(benchReader(1)), "/v1/products/1/inventory")
}

// BenchmarkBareNetHTTP is the yardstick of BenchmarkGetCache: a plain
// handler writing the same bytes.
func BenchmarkBareNetHTTP(b *testing.B) {
	body := []byte(`{"product_id":1,"warehouses":[{"warehouse_code":"WH-A","qty_salable":12},{"warehouse_code":"WH-B","qty_salable":340},{"warehouse_code":"WH-C","qty_salable":0}]}`)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cache", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(body)
	})
	benchGet(b, mux, "/cache?product_id=1")
}

func BenchmarkBatch100(b *testing.B) {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	payload := []byte(`{"product_ids":[` + strings.Join(ids, ",") + `]}`)
	h := benchEngine(benchReader(100))
	body := &rewindBody{}
	req := httptest.NewRequest(http.MethodPost, "/v1/product-inventory", nil)
	req.Body = body
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(payload)
		w.reset()
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}
