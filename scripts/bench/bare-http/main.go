// Command bare-http is the ceiling of the HTTP benchmark: a plain net/http
// server answering GET /cache?product_id=N with the bytes the real service
// sends for the seeded data, precomputed, so a request costs only parsing and
// writing. The gap between it and `gintoki serve` is what the service's own
// work (routing, middleware, cache lookup, encoding) costs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/gintoki/gintoki/infrastructure/database"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bare-http:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bare-http", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18082", "listen address")
	products := fs.Int("products", 100000, "products seeded (ids 1..N)")
	warehouses := fs.Int("warehouses", 3, "warehouses seeded per product")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *products <= 0 || *warehouses <= 0 || *warehouses > database.MaxSeedWarehouses {
		return fmt.Errorf("need --products > 0 and --warehouses in 1..%d", database.MaxSeedWarehouses)
	}
	h := &handler{bodies: seededBodies(*products, *warehouses)}
	mux := http.NewServeMux()
	mux.Handle("/cache", h)
	log.Printf("bare-http: %d products x %d warehouses, listening on %s", *products, *warehouses, *addr)
	err := http.ListenAndServe(*addr, mux)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", *addr, err)
}

// seededBodies returns, at index id, the JSON the service answers for product
// id after `gintoki seed` (index 0 unused). The quantities come from the seed's
// own function, so the bytes match without asking the database.
func seededBodies(products, warehouses int) [][]byte {
	codes := make([]string, warehouses)
	for w := range codes {
		codes[w] = database.WarehouseCode(int64(w+1), warehouses)
	}
	bodies := make([][]byte, products+1)
	for id := 1; id <= products; id++ {
		b := make([]byte, 0, 48+len(codes)*48)
		b = append(b, `{"product_id":`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, `,"warehouses":[`...)
		// Seeded codes are zero-padded ids, so id order is code order,
		// the order the service lists warehouses in.
		for w, code := range codes {
			if w > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"warehouse_code":"`...)
			b = append(b, code...)
			b = append(b, `","qty_salable":`...)
			b = strconv.AppendInt(b, int64(database.SeedQty(int64(id), int64(w+1))), 10)
			b = append(b, '}')
		}
		bodies[id] = append(b, "]}"...)
	}
	return bodies
}

type handler struct {
	bodies [][]byte
}

// Shared header value: assigning it directly avoids an allocation per
// response, as the real service does.
var jsonContentType = []string{"application/json; charset=utf-8"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = jsonContentType
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":{"code":"method_not_allowed","message":"use GET"}}`))
		return
	}
	id, ok := productID(r.URL.RawQuery)
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_argument","message":"product_id must be a positive integer"}}`))
		return
	}
	if id >= int64(len(h.bodies)) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"product ` + strconv.FormatInt(id, 10) + ` not found"}}`))
		return
	}
	// A failed write means the client is gone.
	_, _ = w.Write(h.bodies[id])
}

// productID reads product_id from a raw query string without building the
// url.Values map: the ceiling should not pay for what a careful handler
// would not.
func productID(rawQuery string) (int64, bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		name, value, _ := strings.Cut(pair, "=")
		if name != "product_id" {
			continue
		}
		id, err := strconv.ParseInt(value, 10, 64)
		return id, err == nil && id > 0
	}
	return 0, false
}
