package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gintoki/gintoki/domain"
)

// staleReader answers like the read path does under stale-if-error: every
// answer marked as unconfirmed for 41.2 s.
type staleReader struct{ *fakeReader }

const staleFor = 41200 * time.Millisecond

func (r staleReader) GetProductInventory(ctx context.Context, id int64) (domain.ProductInventory, error) {
	inv, err := r.fakeReader.GetProductInventory(ctx, id)
	if err != nil {
		return inv, domain.StaleNotFoundf(staleFor, "product %d not found", id)
	}
	inv.StaleFor = staleFor
	return inv, nil
}

func (r staleReader) BatchGetProductInventory(ctx context.Context, ids []int64) (domain.BatchResult, error) {
	res, err := r.fakeReader.BatchGetProductInventory(ctx, ids)
	res.StaleFor = staleFor
	return res, err
}

// A possibly stale answer says so (X-Gintoki-Stale) and how long it has
// gone unconfirmed (Age, whole seconds rounded up), on every read endpoint
// and on a not-found answer too; a fresh answer carries neither.
func TestStaleAnswersAreMarked(t *testing.T) {
	stale := New(Options{Reader: staleReader{sampleReader()}})
	fresh := New(Options{Reader: sampleReader()})
	cases := []struct {
		name   string
		method string
		target string
		body   string
		status int
	}{
		{"by query", http.MethodGet, "/cache?product_id=35586", "", http.StatusOK},
		{"by path", http.MethodGet, "/v1/products/35586/inventory", "", http.StatusOK},
		{"not found", http.MethodGet, "/cache?product_id=99", "", http.StatusNotFound},
		{"batch", http.MethodPost, "/v1/product-inventory", `{"product_ids":[35586,99]}`, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, stale, tc.method, tc.target, strings.NewReader(tc.body))
			if rec.Code != tc.status || rec.Header().Get(HeaderStale) != "true" || rec.Header().Get("Age") != "42" {
				t.Fatalf("status %d, %s %q, Age %q; want %d, true, 42", rec.Code, HeaderStale,
					rec.Header().Get(HeaderStale), rec.Header().Get("Age"), tc.status)
			}
			rec = do(t, fresh, tc.method, tc.target, strings.NewReader(tc.body))
			if rec.Code != tc.status || rec.Header().Get(HeaderStale) != "" || rec.Header().Get("Age") != "" {
				t.Fatalf("fresh answer: status %d, marks %q / %q", rec.Code, rec.Header().Get(HeaderStale), rec.Header().Get("Age"))
			}
		})
	}
}
