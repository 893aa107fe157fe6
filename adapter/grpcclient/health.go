package grpcclient

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// BackendHealth reports whether the remote read node says it is SERVING,
// which it mirrors from its own /readyz.
type BackendHealth struct {
	client  healthpb.HealthClient
	service string
}

// NewBackendHealth asks about service ("" for the whole server).
func NewBackendHealth(conn grpc.ClientConnInterface, service string) *BackendHealth {
	return &BackendHealth{client: healthpb.NewHealthClient(conn), service: service}
}

// Ready returns nil when the backend is SERVING.
func (h *BackendHealth) Ready(ctx context.Context) error {
	resp, err := h.client.Check(ctx, &healthpb.HealthCheckRequest{Service: h.service})
	if err != nil {
		return fmt.Errorf("backend health check: %w", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("backend is %s", s)
	}
	return nil
}
