package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/gintoki/gintoki/adapter/httpapi/middleware"
	"github.com/gintoki/gintoki/domain"
)

type inventoryHandlers struct {
	reader Reader
	logger *slog.Logger
}

// getByQuery serves GET /cache?product_id=N.
func (h *inventoryHandlers) getByQuery(c *gin.Context) {
	raw, ok := queryValue(c, "product_id")
	if !ok {
		writeError(c, http.StatusBadRequest, codeInvalidArgument, "product_id query parameter is required")
		return
	}
	h.getOne(c, "product_id", raw)
}

// getByPath serves GET /v1/products/:id/inventory.
func (h *inventoryHandlers) getByPath(c *gin.Context) {
	h.getOne(c, "product id", c.Param("id"))
}

func (h *inventoryHandlers) getOne(c *gin.Context, name, raw string) {
	id, err := parseProductID(name, raw)
	if err != nil {
		writeError(c, http.StatusBadRequest, codeInvalidArgument, err.Error())
		return
	}
	ctx := c.Request.Context()
	after, ok := readAfter(c)
	if !ok {
		return
	}
	var inv domain.ProductInventory
	if after == nil {
		inv, err = h.reader.GetProductInventory(ctx, id)
	} else {
		var src domain.ReadSource
		inv, src, err = h.reader.GetProductInventoryAfter(ctx, id, after)
		markSource(c, src, err)
	}
	if err != nil {
		markStale(c, domain.StaleFor(err))
		f := classifyReadError(ctx, err, fmt.Sprintf("product %d not found", id))
		if f.internal {
			h.logInternal(c, err)
		}
		writeFailure(c, f)
		return
	}
	markStale(c, inv.StaleFor)
	buf := getBuffer()
	// The requested id, not inv.ProductID: the answer is about what was asked.
	*buf = appendInventory((*buf)[:0], id, inv.Warehouses)
	writeJSON(c, http.StatusOK, *buf)
	putBuffer(buf)
}

// HeaderReadAfter carries a read-after token: the GTID (or GTID set) the
// client's write committed at; the answer then reflects it, or the request
// fails. HeaderReadSource answers where such an answer came from.
const (
	HeaderReadAfter  = "X-Read-After-GTID"
	HeaderReadSource = "X-Gintoki-Read-Source"
)

// readAfterKey is HeaderReadAfter as net/http keeps it (canonical case).
var readAfterKey = http.CanonicalHeaderKey(HeaderReadAfter)

// readAfter reads the request's read-after token; a malformed one is
// answered 400 and ok is false. nil: no bound.
func readAfter(c *gin.Context) (domain.SourcePos, bool) {
	raw := c.Request.Header[readAfterKey]
	if len(raw) == 0 {
		return nil, true // the common case costs one map lookup
	}
	after, err := domain.ParseReadAfter(raw[0])
	if err != nil {
		writeError(c, http.StatusBadRequest, codeInvalidArgument, err.Error())
		return nil, false
	}
	return after, true
}

// markSource says where an answer bounded by a token came from.
func markSource(c *gin.Context, src domain.ReadSource, err error) {
	if err == nil || errors.Is(err, domain.ErrNotFound) {
		c.Writer.Header()[HeaderReadSource] = []string{src.String()}
	}
}

// parseProductID returns the id, or a caller-facing error saying why raw is
// not one.
func parseProductID(name, raw string) (int64, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil && errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s must be a positive integer of at most %d, got %q", name, int64(1<<63-1), truncate(raw))
	}
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q", name, truncate(raw))
	}
	return id, nil
}

func (h *inventoryHandlers) logInternal(c *gin.Context, err error) {
	ctx := c.Request.Context()
	h.logger.LogAttrs(ctx, slog.LevelError, "inventory read failed",
		slog.String("request_id", middleware.RequestIDFrom(ctx)),
		slog.String("method", c.Request.Method),
		slog.String("route", c.FullPath()),
		slog.Any("error", err),
	)
}
