package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/telemetry/logtest"
)

// fakeReader answers from a fixed map unless a hook overrides it, and
// records what it was asked.
type fakeReader struct {
	products map[int64][]domain.WarehouseStock
	getHook  func(ctx context.Context, id int64) (domain.ProductInventory, error)
	err      error // returned by both methods when set

	// readSource, when set, is where answers bounded by a token say they
	// came from; gotAfter the tokens received.
	readSource domain.ReadSource
	gotAfter   []domain.SourcePos

	mu        sync.Mutex
	gotIDs    []int64
	gotBatch  [][]int64
	gotCtx    context.Context
	callCount int
}

func (f *fakeReader) record(ctx context.Context, ids ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gotCtx = ctx
	f.callCount++
	f.gotIDs = append(f.gotIDs, ids...)
}

func (f *fakeReader) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callCount
}

func (f *fakeReader) GetProductInventory(ctx context.Context, id int64) (domain.ProductInventory, error) {
	f.record(ctx, id)
	if f.getHook != nil {
		return f.getHook(ctx, id)
	}
	if f.err != nil {
		return domain.ProductInventory{}, f.err
	}
	ws, ok := f.products[id]
	if !ok {
		return domain.ProductInventory{}, domain.NotFoundf("product %d not found", id)
	}
	return domain.ProductInventory{ProductID: id, Warehouses: ws}, nil
}

func (f *fakeReader) BatchGetProductInventory(ctx context.Context, ids []int64) (domain.BatchResult, error) {
	f.record(ctx, ids...)
	f.mu.Lock()
	f.gotBatch = append(f.gotBatch, append([]int64(nil), ids...))
	f.mu.Unlock()
	if f.err != nil {
		return domain.BatchResult{}, f.err
	}
	var res domain.BatchResult
	for _, id := range ids {
		if ws, ok := f.products[id]; ok {
			res.Found = append(res.Found, domain.ProductInventory{ProductID: id, Warehouses: ws})
		} else {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, nil
}

func (f *fakeReader) GetProductInventoryAfter(ctx context.Context, id int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	f.mu.Lock()
	f.gotAfter = append(f.gotAfter, after)
	f.mu.Unlock()
	inv, err := f.GetProductInventory(ctx, id)
	return inv, f.readSource, err
}

func (f *fakeReader) BatchGetProductInventoryAfter(ctx context.Context, ids []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	f.mu.Lock()
	f.gotAfter = append(f.gotAfter, after)
	f.mu.Unlock()
	res, err := f.BatchGetProductInventory(ctx, ids)
	return res, f.readSource, err
}

func sampleReader() *fakeReader {
	return &fakeReader{products: map[int64][]domain.WarehouseStock{
		35586: {{WarehouseCode: "WH-A", QtySalable: 12}},
		7: {
			{WarehouseCode: "WH-A", QtySalable: 1},
			{WarehouseCode: "WH-B", QtySalable: 0},
			{WarehouseCode: "WH-C", QtySalable: -3},
		},
		8: {},
	}}
}

// fakeReadiness reports err and records whether its context had a deadline.
type fakeReadiness struct {
	err         error
	hadDeadline bool
}

func (f *fakeReadiness) Ready(ctx context.Context) error {
	_, f.hadDeadline = ctx.Deadline()
	return f.err
}

func newLogger(buf *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func do(t testing.TB, h http.Handler, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(t testing.TB, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodGet, target, nil, header...)
}

func post(t testing.TB, h http.Handler, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return do(t, h, http.MethodPost, target, strings.NewReader(body), header...)
}

func assertResponse(t testing.TB, rec *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body.String())
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body =\n  %s\nwant\n  %s", got, body)
	}
	if body != "" {
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
	}
}

func assertErrorCode(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body.String())
	}
	prefix := `{"error":{"code":"` + code + `","message":"`
	if !strings.HasPrefix(rec.Body.String(), prefix) {
		t.Errorf("body = %s, want it to start with %s", rec.Body.String(), prefix)
	}
}
