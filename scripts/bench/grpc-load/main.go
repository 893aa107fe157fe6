// Command grpc-load is a closed-loop gRPC load generator for
// InventoryService built on the generated client. ghz decodes every answer
// through dynamic messages and, on a 2-core machine, runs out of CPU before
// either server does, so its serve/bare ratio drifts towards 1; this client
// costs far less per call and leaves the servers the CPU. It prints one line:
//
//	BENCH <ok calls/s> <p50 ms> <p90 ms> <p99 ms> <calls> <failed calls>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "grpc-load:", err)
		os.Exit(1)
	}
}

type config struct {
	addr        string
	method      string
	duration    time.Duration
	concurrency int
	connections int
	products    int64
	batchIDs    int
	callTimeout time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("grpc-load", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:19085", "server address")
	fs.StringVar(&c.method, "method", "get", "get (GetProductInventory of a random product) or batch (BatchGetProductInventory)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send calls")
	fs.IntVar(&c.concurrency, "concurrency", 64, "callers, each waiting for its answer before the next call")
	fs.IntVar(&c.connections, "connections", 4, "connections the callers share round robin")
	fs.Int64Var(&c.products, "products", 100000, "product ids are drawn from 1..N")
	fs.IntVar(&c.batchIDs, "batch-ids", 100, "ids in every batch call (random, drawn once)")
	fs.DurationVar(&c.callTimeout, "call-timeout", 5*time.Second, "deadline of one call")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case c.method != "get" && c.method != "batch":
		return config{}, fmt.Errorf("--method must be get or batch, got %q", c.method)
	case c.duration <= 0 || c.concurrency <= 0 || c.connections <= 0 || c.products <= 0 || c.batchIDs <= 0 || c.callTimeout <= 0:
		return config{}, errors.New("--duration, --concurrency, --connections, --products, --batch-ids and --call-timeout must be positive")
	}
	return c, nil
}

func run(args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	clients := make([]inventoryv1.InventoryServiceClient, cfg.connections)
	for i := range clients {
		conn, err := grpc.NewClient(cfg.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("connect to %s: %w", cfg.addr, err)
		}
		defer conn.Close()
		clients[i] = inventoryv1.NewInventoryServiceClient(conn)
	}
	batch := &inventoryv1.BatchGetProductInventoryRequest{ProductIds: make([]int64, cfg.batchIDs)}
	for i := range batch.ProductIds {
		batch.ProductIds[i] = rand.Int64N(cfg.products) + 1
	}
	// Connections are made before the clock starts, so the first calls do
	// not measure the handshakes.
	for _, c := range clients {
		if err := call(context.Background(), c, cfg, batch); err != nil {
			return fmt.Errorf("first call to %s: %w", cfg.addr, err)
		}
	}

	res := load(cfg, clients, batch)
	fmt.Println(res.line())
	return nil
}

func call(ctx context.Context, c inventoryv1.InventoryServiceClient, cfg config, batch *inventoryv1.BatchGetProductInventoryRequest) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.callTimeout)
	defer cancel()
	if cfg.method == "batch" {
		_, err := c.BatchGetProductInventory(ctx, batch)
		return err
	}
	_, err := c.GetProductInventory(ctx, &inventoryv1.GetProductInventoryRequest{ProductId: rand.Int64N(cfg.products) + 1})
	return err
}

type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of successful calls
	failed    int
}

// load runs cfg.concurrency callers until cfg.duration has passed. A call
// in flight at the end finishes and counts: nothing is cut off.
func load(cfg config, clients []inventoryv1.InventoryServiceClient, batch *inventoryv1.BatchGetProductInventoryRequest) result {
	deadline := time.Now().Add(cfg.duration)
	start := time.Now()
	var (
		mu  sync.Mutex
		all result
		wg  sync.WaitGroup
	)
	for w := range cfg.concurrency {
		client := clients[w%len(clients)]
		wg.Go(func() {
			var mine result
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := call(context.Background(), client, cfg, batch); err != nil {
					mine.failed++
					continue
				}
				mine.latencies = append(mine.latencies, time.Since(t0))
			}
			mu.Lock()
			all.latencies = append(all.latencies, mine.latencies...)
			all.failed += mine.failed
			mu.Unlock()
		})
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all
}

func (r result) line() string {
	slices.Sort(r.latencies)
	ms := func(q float64) float64 { return float64(percentile(r.latencies, q)) / float64(time.Millisecond) }
	okRate := float64(len(r.latencies)) / r.elapsed.Seconds()
	return fmt.Sprintf("BENCH %.1f %.3f %.3f %.3f %d %d",
		okRate, ms(0.50), ms(0.90), ms(0.99), len(r.latencies)+r.failed, r.failed)
}

// percentile of sorted durations by the nearest-rank method; 0 when empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
