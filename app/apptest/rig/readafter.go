package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gintoki/gintoki/adapter/httpapi"
)

// ReadAfter asks n for product id as a client that committed a write at
// gtid does (GET /cache?product_id=id with X-Read-After-GTID), and returns
// the answer and where the node says it came from (X-Gintoki-Read-Source:
// cache, waited or database).
func (p *Pipeline) ReadAfter(ctx context.Context, n *Node, id int64, gtid string) (Answer, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/cache?product_id=%d", n.Base(), id), nil)
	if err != nil {
		return Answer{}, "", err
	}
	req.Header.Set(httpapi.HeaderReadAfter, gtid)
	resp, err := p.Client.Do(req)
	if err != nil {
		return Answer{}, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	src := resp.Header.Get(httpapi.HeaderReadSource)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Answer{ProductID: id}, src, nil
	case resp.StatusCode != http.StatusOK:
		return Answer{}, src, fmt.Errorf("%s after %s: %d %s", req.URL, gtid, resp.StatusCode, body)
	}
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return Answer{}, src, fmt.Errorf("%s: %w: %s", req.URL, err, body)
	}
	return a, src, nil
}
