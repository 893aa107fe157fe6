package bootstrapproof

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gintoki/gintoki/app/apptest/rig"
)

const (
	// requestRate is the load through the gateway during the rolling
	// restart, sized for a 2-core machine running the race detector.
	requestRate = 100
	maxInFlight = 32
	// One request in three is a batch of batchSize products.
	batchSize = 8
)

// load sends requestRate requests a second to base, single products (by
// path and by query) and batches, and compares every answer with want:
// the database does not change while it runs.
type load struct {
	client *http.Client
	base   string
	want   map[int64]rig.Answer

	requests, batches, answers atomic.Int64
	// failed: no answer (a transport error or an error status, after the
	// gateway's own retry); wrong: an answer that is not the database's.
	failed, wrong atomic.Int64

	problems rig.Problems
}

// run sends requests until ctx ends, at most maxInFlight at once (the
// rate drops rather than requests piling up). It keeps to the rate by
// counting the requests due since it began.
func (l *load) run(ctx context.Context) {
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	began := time.Now()
	for i := 0; ; i++ {
		for time.Since(began) < time.Duration(i)*time.Second/requestRate {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		ids := []int64{int64(1 + rng.IntN(products))}
		if i%3 == 2 {
			ids = ids[:0]
			for _, j := range rng.Perm(products)[:batchSize] {
				ids = append(ids, int64(j+1))
			}
		}
		wg.Go(func() {
			defer func() { <-slots }()
			l.one(ctx, ids, i)
		})
	}
}

func (l *load) one(ctx context.Context, ids []int64, i int) {
	answers, err := rig.Fetch(ctx, l.client, l.base, ids, i/3)
	if ctx.Err() != nil {
		return // the run is over: neither counted nor judged
	}
	l.requests.Add(1)
	if len(ids) > 1 {
		l.batches.Add(1)
	}
	if err != nil {
		l.failed.Add(1)
		l.problems.Add("%s: products %v: %v", time.Now().Format("15:04:05.000"), ids, err)
		return
	}
	var bad []string
	if len(answers) != len(ids) {
		bad = append(bad, fmt.Sprintf("%d answers for %d products", len(answers), len(ids)))
	}
	for _, a := range answers {
		l.answers.Add(1)
		if w := l.want[a.ProductID]; a.String() != w.String() {
			bad = append(bad, fmt.Sprintf("product %d: %s, database %s", a.ProductID, a, w))
		}
	}
	if len(bad) > 0 {
		l.wrong.Add(1)
		l.problems.Add("%s: %s", time.Now().Format("15:04:05.000"), strings.Join(bad, "; "))
	}
}
