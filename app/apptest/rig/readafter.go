package rig

import (
	"context"
)

// ReadAfter asks n for product id as a client that committed a write at
// gtid does (GET /cache?product_id=id with X-Read-After-GTID), and returns
// the answer and where the node says it came from (X-Gintoki-Read-Source:
// cache, waited or database).
func (p *Pipeline) ReadAfter(ctx context.Context, n *Node, id int64, gtid string) (Answer, string, error) {
	answers, src, err := FetchAfter(ctx, p.Client, n.Base(), []int64{id}, 1, gtid)
	if err != nil {
		return Answer{}, src, err
	}
	return answers[0], src, nil
}
