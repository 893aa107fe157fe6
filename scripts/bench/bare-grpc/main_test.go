package main

import (
	"context"
	"testing"

	inventoryv1 "github.com/gintoki/gintoki/proto/gintoki/inventory/v1"
)

func TestFixedServiceAnswersSeededProducts(t *testing.T) {
	s := newFixedService(3, 100)

	one, err := s.GetProductInventory(context.Background(), &inventoryv1.GetProductInventoryRequest{ProductId: 5})
	if err != nil {
		t.Fatal(err)
	}
	// What `gintoki serve` answered for 35586 after a 100000 x 3 seed.
	want := []struct {
		code string
		qty  int32
	}{{"WH-001", 731}, {"WH-002", 666}, {"WH-003", 88}}
	if one.GetProductId() != fixedProductID || len(one.GetWarehouses()) != len(want) {
		t.Fatalf("Get = %v", one)
	}
	for i, w := range one.GetWarehouses() {
		if w.GetWarehouseCode() != want[i].code || w.GetQtySalable() != want[i].qty {
			t.Errorf("warehouse %d = %s/%d, want %s/%d", i, w.GetWarehouseCode(), w.GetQtySalable(), want[i].code, want[i].qty)
		}
	}

	batch, err := s.BatchGetProductInventory(context.Background(), &inventoryv1.BatchGetProductInventoryRequest{ProductIds: []int64{1}})
	if err != nil {
		t.Fatal(err)
	}
	items := batch.GetProductInventories()
	if len(items) != 100 || len(batch.GetNotFoundProductIds()) != 0 {
		t.Fatalf("Batch answered %d items, %d not found; want 100, 0", len(items), len(batch.GetNotFoundProductIds()))
	}
	for i, p := range items {
		if p.GetProductId() != int64(i+1) || len(p.GetWarehouses()) != 3 {
			t.Fatalf("item %d = %v", i, p)
		}
	}
}
