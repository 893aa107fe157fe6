package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// Reader is the read path this adapter serves.
type Reader interface {
	GetProductInventory(ctx context.Context, productID int64) (domain.ProductInventory, error)
	BatchGetProductInventory(ctx context.Context, productIDs []int64) (domain.BatchResult, error)
	// The same, bounded by a read-after token (read_after_gtid).
	GetProductInventoryAfter(ctx context.Context, productID int64, after domain.SourcePos) (domain.ProductInventory, domain.ReadSource, error)
	BatchGetProductInventoryAfter(ctx context.Context, productIDs []int64, after domain.SourcePos) (domain.BatchResult, domain.ReadSource, error)
}

// Server implements inventoryv1.InventoryServiceServer.
type Server struct {
	inventoryv1.UnimplementedInventoryServiceServer

	reader Reader
	logger *slog.Logger
}

var _ inventoryv1.InventoryServiceServer = (*Server)(nil)

// NewServer returns the InventoryService implementation. A nil logger
// discards what would have been logged.
func NewServer(reader Reader, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{reader: reader, logger: logger}
}

// GetProductInventory answers one product.
func (s *Server) GetProductInventory(ctx context.Context, req *inventoryv1.GetProductInventoryRequest) (*inventoryv1.ProductInventory, error) {
	id := req.GetProductId() // nil-safe: a nil request reads as id 0 and is rejected below
	// The reader validates too; checking here keeps a bad request from
	// reaching the read path at all and gives the same domain message.
	if err := domain.ValidateProductID(id); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	after, err := domain.ParseReadAfter(req.GetReadAfterGtid())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var inv domain.ProductInventory
	if after == nil {
		inv, err = s.reader.GetProductInventory(ctx, id)
	} else {
		var src domain.ReadSource
		inv, src, err = s.reader.GetProductInventoryAfter(ctx, id, after)
		markSource(ctx, src, err)
	}
	if err != nil {
		markStale(ctx, domain.StaleFor(err))
		return nil, s.toStatus(ctx, err, fmt.Sprintf("product %d", id))
	}
	markStale(ctx, inv.StaleFor)
	return inventoryToProto(inv), nil
}

// BatchGetProductInventory answers several products; unknown ones are
// listed, not failed.
func (s *Server) BatchGetProductInventory(ctx context.Context, req *inventoryv1.BatchGetProductInventoryRequest) (*inventoryv1.BatchGetProductInventoryResponse, error) {
	ids := req.GetProductIds()
	if err := domain.ValidateBatch(ids); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	after, err := domain.ParseReadAfter(req.GetReadAfterGtid())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var res domain.BatchResult
	if after == nil {
		res, err = s.reader.BatchGetProductInventory(ctx, ids)
	} else {
		var src domain.ReadSource
		res, src, err = s.reader.BatchGetProductInventoryAfter(ctx, ids, after)
		markSource(ctx, src, err)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, fmt.Sprintf("batch of %d products", len(ids)))
	}
	markStale(ctx, res.StaleFor)
	return batchToProto(res), nil
}

// markStale sends the stale marks (inventoryv1.MetadataStale and
// MetadataAge) as header metadata when staleFor is positive.
func markStale(ctx context.Context, staleFor time.Duration) {
	if staleFor <= 0 {
		return
	}
	secs := strconv.FormatInt(int64((staleFor+time.Second-1)/time.Second), 10)
	// An error here means the stream is gone: there is no one to tell.
	_ = grpc.SetHeader(ctx, metadata.Pairs(inventoryv1.MetadataStale, "true", inventoryv1.MetadataAge, secs))
}

// markSource says, in the trailing metadata, where an answer bounded by a
// read-after token came from.
func markSource(ctx context.Context, src domain.ReadSource, err error) {
	if err == nil || errors.Is(err, domain.ErrNotFound) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs(inventoryv1.MetadataReadSource, src.String()))
	}
}

// toStatus maps a read-path error to a gRPC status. subject names what was
// being read, for messages and logs.
func (s *Server) toStatus(ctx context.Context, err error, subject string) error {
	switch {
	case errors.Is(err, domain.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, domain.ErrNotFound):
		// The reader's message may be the bare sentinel's "not found"; the
		// subject makes it say which product.
		return status.Error(codes.NotFound, subject+" not found")
	case errors.Is(err, domain.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded while reading "+subject)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled while reading "+subject)
	}
	// Anything else is a bug or an unexpected failure: its text may hold
	// internals (queries, addresses), so the caller gets a generic message.
	s.logger.ErrorContext(ctx, "grpc read failed", slog.String("subject", subject), slog.Any("error", err))
	return status.Error(codes.Internal, "internal error while reading "+subject)
}
