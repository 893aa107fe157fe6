package grpcserver_test

import (
	"context"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/domain"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"

	"github.com/gintoki/gintoki/infrastructure/polltest"
)

// The default receive limit lets the largest valid batch through and
// refuses a much larger one before decoding it.
func TestDefaultReceiveLimitFitsTheLargestValidBatch(t *testing.T) {
	reader := &fakeReader{t: t, batch: func(_ context.Context, ids []int64) (domain.BatchResult, error) {
		return domain.BatchResult{NotFound: ids}, nil
	}}
	h := start(t, reader, grpcserver.Options{})
	largest := make([]int64, domain.MaxBatchSize)
	for i := range largest {
		largest[i] = math.MaxInt64 - int64(i) // the longest varints
	}
	if _, err := h.client.BatchGetProductInventory(t.Context(), &inventoryv1.BatchGetProductInventoryRequest{ProductIds: largest}); err != nil {
		t.Fatalf("a full batch of the largest ids: %v", err)
	}
	huge := make([]int64, 20*domain.MaxBatchSize)
	for i := range huge {
		huge[i] = math.MaxInt64
	}
	_, err := h.client.BatchGetProductInventory(t.Context(), &inventoryv1.BatchGetProductInventoryRequest{ProductIds: huge})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("%d ids: %v, want ResourceExhausted", len(huge), err)
	}
	if reader.calls() != 1 {
		t.Fatalf("the reader was called %d times, want once (the valid batch)", reader.calls())
	}
}

// One connection has at most DefaultMaxConcurrentStreams calls in flight;
// the next waits for one of them to end.
func TestMaxConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32
	reader := &fakeReader{t: t, get: func(ctx context.Context, id int64) (domain.ProductInventory, error) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return inventory(id, line("WH-A", 1)), nil
	}}
	h := start(t, reader, grpcserver.Options{})
	var wg sync.WaitGroup
	for i := range grpcserver.DefaultMaxConcurrentStreams {
		wg.Go(func() {
			_, _ = h.client.GetProductInventory(context.Background(), &inventoryv1.GetProductInventoryRequest{ProductId: int64(i + 1)})
		})
	}
	polltest.Until(t, 20*time.Second, "the condition", func() bool { return inFlight.Load() == grpcserver.DefaultMaxConcurrentStreams })

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := h.client.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: 99999})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("one call over the limit: %v, want it to wait (DeadlineExceeded)", err)
	}
	if n := inFlight.Load(); n != grpcserver.DefaultMaxConcurrentStreams {
		t.Fatalf("%d calls in flight, want %d", n, grpcserver.DefaultMaxConcurrentStreams)
	}
	close(release)
	wg.Wait()
	if _, err := h.client.GetProductInventory(t.Context(), &inventoryv1.GetProductInventoryRequest{ProductId: 1}); err != nil {
		t.Fatalf("after the others ended: %v", err)
	}
}

// A client that pings far more often than the policy allows is sent away
// with GOAWAY ENHANCE_YOUR_CALM ("too_many_pings").
func TestKeepaliveEnforcement(t *testing.T) {
	srv, _, err := grpcserver.New(&fakeReader{t: t}, grpcserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range 50 {
			if fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
			}
			return
		}
	}
}

func TestReflectionCanBeTurnedOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		h := start(t, &fakeReader{t: t}, grpcserver.Options{NoReflection: off})
		stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(t.Context())
		if err == nil {
			err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		}
		if err == nil {
			_, err = stream.Recv()
		}
		if off && status.Code(err) != codes.Unimplemented {
			t.Errorf("reflection off: %v, want Unimplemented", err)
		}
		if !off && err != nil {
			t.Errorf("reflection on: %v", err)
		}
	}
}
