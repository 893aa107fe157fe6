package pipelinetorture

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/database/dbtest"
)

// TestDeletedRowStaysDeletedWhenTheFeedIsBehind is the torture's "node back
// before the relay" case made small and certain: a read node fills a product
// from the database after a row was updated many times and then deleted,
// while the relay is down; when the relay comes back, its backlog carries
// the row's older updates before its delete. A reader that saw the row
// deleted must never see it again.
func TestDeletedRowStaysDeletedWhenTheFeedIsBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("the pipeline torture is not short")
	}
	const updates = 1000
	dsn, gdb := dbtest.MySQLDSN(t)
	seed, err := database.Seed(context.Background(), gdb, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, dsn, gdb, 1, "")
	p.StartRelay()
	n := p.nodes[0]
	p.StartNode(n.Node)
	n.Child.WaitUntil(t, n.Name+" live", startLimit, func() bool { return p.OK(n.Base() + "/readyz") })

	p.Relay.Kill()
	for i := 1; i <= updates; i++ {
		if _, err := p.DB.Exec("UPDATE stock_items SET qty_salable = ?, version = ? WHERE product_id = 5 AND warehouse_id = 1",
			qtyBase+i, seed.Version+uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.DB.Exec("DELETE FROM stock_items WHERE product_id = 5 AND warehouse_id = 1"); err != nil {
		t.Fatal(err)
	}
	url := n.Base() + "/v1/products/5/inventory"
	if _, body, err := p.Get(url); err != nil || strings.Contains(body, `"WH-001"`) {
		t.Fatalf("first read, filled from the database where the row is deleted: %s %v", body, err)
	}

	var mu sync.Mutex
	var reads int
	var shown []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, body, err := p.Get(url)
			mu.Lock()
			reads++
			if err == nil && strings.Contains(body, `"WH-001"`) {
				shown = append(shown, body)
			}
			mu.Unlock()
		}
	}()
	p.StartRelay()
	p.Drain(time.Minute)
	time.Sleep(time.Second)
	close(stop)
	<-done
	if len(shown) > 0 {
		t.Errorf("%d of %d reads after the row was read deleted showed it again while the relay's backlog arrived; first: %s",
			len(shown), reads, shown[0])
	}
}
