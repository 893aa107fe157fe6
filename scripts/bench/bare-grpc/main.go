// Command bare-grpc is the ceiling of the gRPC benchmark: InventoryService on
// a plain grpc.Server (no interceptors, no stats handler) answering every Get
// with one fixed product and every Batch with 100 fixed products, built once.
// The gap between it and `gintoki serve` is what the service's own work costs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"

	"github.com/gintoki/gintoki/infrastructure/database"
	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

// The product the original project benchmarked with.
const fixedProductID = 35586

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bare-grpc:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bare-grpc", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:19092", "listen address")
	warehouses := fs.Int("warehouses", 3, "warehouses per product in the answers")
	batchItems := fs.Int("batch-items", 100, "products in every batch answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *warehouses <= 0 || *warehouses > database.MaxSeedWarehouses || *batchItems < 0 {
		return fmt.Errorf("need --warehouses in 1..%d and --batch-items >= 0", database.MaxSeedWarehouses)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := grpc.NewServer()
	inventoryv1.RegisterInventoryServiceServer(srv, newFixedService(*warehouses, *batchItems))
	log.Printf("bare-grpc: listening on %s", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		return fmt.Errorf("serve %s: %w", *addr, err)
	}
	return nil
}

type fixedService struct {
	inventoryv1.UnimplementedInventoryServiceServer
	one   *inventoryv1.ProductInventory
	batch *inventoryv1.BatchGetProductInventoryResponse
}

func newFixedService(warehouses, batchItems int) *fixedService {
	s := &fixedService{
		one:   seededProduct(fixedProductID, warehouses),
		batch: &inventoryv1.BatchGetProductInventoryResponse{},
	}
	for id := 1; id <= batchItems; id++ {
		s.batch.ProductInventories = append(s.batch.ProductInventories, seededProduct(int64(id), warehouses))
	}
	return s
}

// seededProduct is what the service answers for id after `gintoki seed`, so
// the messages have the real size.
func seededProduct(id int64, warehouses int) *inventoryv1.ProductInventory {
	p := &inventoryv1.ProductInventory{ProductId: id}
	for w := int64(1); w <= int64(warehouses); w++ {
		p.Warehouses = append(p.Warehouses, &inventoryv1.WarehouseStock{
			WarehouseCode: database.WarehouseCode(w, warehouses),
			QtySalable:    database.SeedQty(id, w),
		})
	}
	return p
}

// The messages are shared and only read: gRPC marshals them without
// modifying them, so concurrent calls may return the same pointer.
func (s *fixedService) GetProductInventory(context.Context, *inventoryv1.GetProductInventoryRequest) (*inventoryv1.ProductInventory, error) {
	return s.one, nil
}

func (s *fixedService) BatchGetProductInventory(context.Context, *inventoryv1.BatchGetProductInventoryRequest) (*inventoryv1.BatchGetProductInventoryResponse, error) {
	return s.batch, nil
}
