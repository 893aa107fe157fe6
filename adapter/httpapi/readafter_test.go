package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gintoki/gintoki/domain"
)

// A read-after token reaches the reader on every read endpoint, the answer
// says where it came from, a malformed token is a 400 that reads nothing,
// and no header means the plain reads.
func TestReadAfterTokenOnEveryEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"by query", http.MethodGet, "/cache?product_id=35586", "", 200},
		{"by path", http.MethodGet, "/v1/products/35586/inventory", "", 200},
		{"not found", http.MethodGet, "/cache?product_id=99", "", 404},
		{"batch", http.MethodPost, "/v1/product-inventory", `{"product_ids":[35586,99]}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := sampleReader()
			reader.readSource = domain.FromCacheAfterWait
			h := New(Options{Reader: reader})
			rec := do(t, h, tc.method, tc.target, strings.NewReader(tc.body), HeaderReadAfter, "0-1-4711")
			if rec.Code != tc.status || rec.Header().Get(HeaderReadSource) != "waited" {
				t.Fatalf("status %d source %q, want %d waited", rec.Code, rec.Header().Get(HeaderReadSource), tc.status)
			}
			if len(reader.gotAfter) != 1 || reader.gotAfter[0].String() != "0-0-4711" {
				t.Fatalf("tokens the reader got: %v", reader.gotAfter)
			}

			rec = do(t, h, tc.method, tc.target, strings.NewReader(tc.body), HeaderReadAfter, "0-1-x")
			assertErrorCode(t, rec, http.StatusBadRequest, codeInvalidArgument)
			if !strings.Contains(rec.Body.String(), "not a GTID") || reader.calls() != 1 {
				t.Fatalf("malformed token: %s after %d reads", rec.Body.String(), reader.calls())
			}

			rec = do(t, h, tc.method, tc.target, strings.NewReader(tc.body))
			if rec.Code != tc.status || rec.Header().Get(HeaderReadSource) != "" || len(reader.gotAfter) != 1 {
				t.Fatalf("no token: status %d source %q, %d bounded reads", rec.Code, rec.Header().Get(HeaderReadSource), len(reader.gotAfter))
			}
		})
	}
}
