// Package grpcclient is the outbound gRPC adapter: a Reader that answers the
// read contract by calling a remote gintoki.inventory.v1.InventoryService,
// as the gateway tier does over the channel package fleet makes.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// Reader reads inventory from a remote InventoryService. It is safe for
// concurrent use.
type Reader struct {
	client inventoryv1.InventoryServiceClient
}

// New returns a Reader calling the service over conn. The caller owns conn.
func New(conn grpc.ClientConnInterface) *Reader {
	return &Reader{client: inventoryv1.NewInventoryServiceClient(conn)}
}

// GetProductInventory reads one product. Errors match domain.ErrInvalidArgument,
// ErrNotFound, ErrUnavailable, context.DeadlineExceeded or context.Canceled
// under errors.Is, like the local read path's.
func (r *Reader) GetProductInventory(ctx context.Context, productID int64) (domain.ProductInventory, error) {
	inv, _, err := r.GetProductInventoryAfter(ctx, productID, nil)
	return inv, err
}

// GetProductInventoryAfter reads one product bounded by a read-after token
// (read_after_gtid); the node says where its answer came from.
func (r *Reader) GetProductInventoryAfter(ctx context.Context, productID int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error) {
	var header, trailer metadata.MD
	resp, err := r.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: productID, ReadAfterGtid: token(after)},
		grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		err = fromStatus(err, fmt.Sprintf("get product %d", productID))
		if age := staleFor(header); age > 0 && errors.Is(err, domain.ErrNotFound) {
			err = domain.StaleNotFoundf(age, "%s", err.Error())
		}
		return domain.ProductInventory{}, readSource(trailer), err
	}
	inv := inventoryFromProto(resp)
	inv.StaleFor = staleFor(header)
	return inv, readSource(trailer), nil
}

// BatchGetProductInventoryAfter reads several products bounded by a
// read-after token.
func (r *Reader) BatchGetProductInventoryAfter(ctx context.Context, productIDs []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error) {
	var header, trailer metadata.MD
	resp, err := r.client.BatchGetProductInventory(ctx, &inventoryv1.BatchGetProductInventoryRequest{ProductIds: productIDs, ReadAfterGtid: token(after)},
		grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return domain.BatchResult{}, readSource(trailer), fromStatus(err, fmt.Sprintf("batch get %d products", len(productIDs)))
	}
	res := batchFromProto(resp)
	res.StaleFor = staleFor(header)
	return res, readSource(trailer), nil
}

// token writes a read-after bound back as a GTID set the node parses to
// the same bound.
func token(after domain.SourcePos) string {
	if len(after) == 0 {
		return ""
	}
	return after.String()
}

// readSource reads where the node said a bounded answer came from.
func readSource(md metadata.MD) domain.ReadSource {
	v := md.Get(inventoryv1.MetadataReadSource)
	if len(v) == 0 {
		return 0
	}
	for _, s := range []domain.ReadSource{domain.FromCache, domain.FromCacheAfterWait, domain.FromDatabase} {
		if v[0] == s.String() {
			return s
		}
	}
	return 0
}

// BatchGetProductInventory reads several products in one call.
func (r *Reader) BatchGetProductInventory(ctx context.Context, productIDs []int64) (domain.BatchResult, error) {
	res, _, err := r.BatchGetProductInventoryAfter(ctx, productIDs, nil)
	return res, err
}

// staleFor reads the node's stale marks: how long its answer has gone
// unconfirmed, 0 for a fresh one (or marks that do not parse).
func staleFor(md metadata.MD) time.Duration {
	if v := md.Get(inventoryv1.MetadataStale); len(v) == 0 || v[0] != "true" {
		return 0
	}
	secs := int64(1)
	if v := md.Get(inventoryv1.MetadataAge); len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n > 0 {
			secs = n
		}
	}
	return time.Duration(secs) * time.Second
}

// fromStatus maps a call's error back to the read contract. The server's
// messages for the domain kinds are caller-facing already, so they are kept
// as they are; op prefixes the rest, which are for logs.
func fromStatus(err error, op string) error {
	st, _ := status.FromError(err) // a non-status error reads as Unknown
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		return domain.InvalidArgumentf("%s", msg)
	case codes.NotFound:
		return domain.NotFoundf("%s", msg)
	case codes.Unavailable, codes.ResourceExhausted:
		// The channel (package fleet) words UNAVAILABLE for callers: it
		// says what failed and leaves addresses to the log.
		return domain.Unavailablef("%s", msg)
	case codes.DeadlineExceeded:
		return wrapContextErr(op, msg, context.DeadlineExceeded)
	case codes.Canceled:
		return wrapContextErr(op, msg, context.Canceled)
	}
	return fmt.Errorf("%s: inventory service: %w", op, err)
}

// wrapContextErr keeps the server's explanation when there is one; when the
// deadline or cancellation was this side's own, gRPC's message is just the
// context error's text and would only repeat it.
func wrapContextErr(op, msg string, ctxErr error) error {
	if msg == "" || msg == ctxErr.Error() {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return fmt.Errorf("%s: %s: %w", op, msg, ctxErr)
}
