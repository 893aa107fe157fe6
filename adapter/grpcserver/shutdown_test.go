package grpcserver_test

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// Shutdown: NOT_SERVING at once, calls still answered during the drain,
// then a call that never ends is cut off when the context does.
func TestShutdownDrainsThenStopsWithinContext(t *testing.T) {
	entered := make(chan struct{}, 1)
	reader := &fakeReader{t: t, get: func(ctx context.Context, id int64) (domain.ProductInventory, error) {
		if id == 1 { // hangs until the server cuts it off
			entered <- struct{}{}
			<-ctx.Done()
			return domain.ProductInventory{}, ctx.Err()
		}
		return inventory(id, line("A", 1)), nil
	}}
	srv, hs, err := grpcserver.New(reader, grpcserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conn := dialServer(t, srv)
	client := inventoryv1.NewInventoryServiceClient(conn)

	hung := make(chan error, 1)
	go func() {
		_, err := client.GetProductInventory(context.Background(), &inventoryv1.GetProductInventoryRequest{ProductId: 1})
		hung <- err
	}()
	<-entered

	const drain, limit = time.Second, 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() { grpcserver.Shutdown(ctx, srv, hs, drain); close(done) }()

	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: grpcserver.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during the drain: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	if _, err := client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 2}); err != nil {
		if time.Since(start) < drain {
			t.Fatalf("call refused during the drain: %v", err)
		}
		t.Logf("machine too slow to call within the drain (%s)", time.Since(start))
	}
	<-done
	if took := time.Since(start); took < limit || took > limit+5*time.Second {
		t.Fatalf("Shutdown took %s; want it to wait for the hung call until the context ends (%s)", took, limit)
	}
	if err := <-hung; err == nil {
		t.Fatal("the hung call succeeded")
	}
	// Health stays NOT_SERVING whatever is set afterwards.
	grpcserver.SetServing(hs, true)
	if resp, _ := hs.Check(t.Context(), &healthpb.HealthCheckRequest{}); resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after Shutdown: %v", resp.GetStatus())
	}
}
