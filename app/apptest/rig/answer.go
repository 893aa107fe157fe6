package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gintoki/gintoki/adapter/httpapi"
)

// Line and Answer are the HTTP API's answer for one product.
type Line struct {
	Code string `json:"warehouse_code"`
	Qty  int32  `json:"qty_salable"`
}

// Answer is one product's warehouses; none stands for a 404.
type Answer struct {
	ProductID  int64  `json:"product_id"`
	Warehouses []Line `json:"warehouses"`
}

type batchAnswer struct {
	Data     []Answer `json:"data"`
	NotFound []int64  `json:"not_found"`
}

func (a Answer) String() string {
	if len(a.Warehouses) == 0 {
		return "404"
	}
	parts := make([]string, len(a.Warehouses))
	for i, l := range a.Warehouses {
		parts[i] = fmt.Sprintf("%s=%d", l.Code, l.Qty)
	}
	return strings.Join(parts, " ")
}

// ErrUnavailable: the server did not answer, or answered with a 5xx.
var ErrUnavailable = errors.New("node unavailable")

// Fetch asks base (a read node or a gateway) for ids and returns the
// answers: one per id, a 404 or a batch's not_found as an Answer without
// warehouses, a batch's found products first. One id is asked by path or
// by query, as style's parity says; several in one batch.
func Fetch(ctx context.Context, client *http.Client, base string, ids []int64, style int) ([]Answer, error) {
	answers, _, err := FetchAfter(ctx, client, base, ids, style, "")
	return answers, err
}

// FetchAfter is Fetch with a read-after token (X-Read-After-GTID, none when
// empty); it also returns where the answer came from (X-Gintoki-Read-Source).
func FetchAfter(ctx context.Context, client *http.Client, base string, ids []int64, style int, gtid string) ([]Answer, string, error) {
	req, err := request(ctx, base, ids, style)
	if err != nil {
		return nil, "", err
	}
	if gtid != "" {
		req.Header.Set(httpapi.HeaderReadAfter, gtid)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	answers, err := readAnswers(req, resp, ids)
	return answers, resp.Header.Get(httpapi.HeaderReadSource), err
}

func readAnswers(req *http.Request, resp *http.Response, ids []int64) ([]Answer, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && len(ids) == 1:
		return []Answer{{ProductID: ids[0]}}, nil
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: %d %s", ErrUnavailable, resp.StatusCode, body)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %d %s", req.URL, resp.StatusCode, body)
	}
	if len(ids) == 1 {
		var a Answer
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", req.URL, err, body)
		}
		if a.ProductID != ids[0] || len(a.Warehouses) == 0 {
			return nil, fmt.Errorf("%s: answer for another product or empty: %s", req.URL, body)
		}
		return []Answer{a}, nil
	}
	var b batchAnswer
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("batch %v: %w: %s", ids, err, body)
	}
	out := b.Data
	for _, id := range b.NotFound {
		out = append(out, Answer{ProductID: id})
	}
	if len(out) != len(ids) {
		return nil, fmt.Errorf("batch %v: %d answers: %s", ids, len(out), body)
	}
	return out, nil
}

// request asks for one product (by path or by query, as style says) or,
// with several ids, for a batch.
func request(ctx context.Context, base string, ids []int64, style int) (*http.Request, error) {
	switch {
	case len(ids) > 1:
		body, err := json.Marshal(map[string][]int64{"product_ids": ids})
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/product-inventory", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	case style%2 == 0:
		return http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/products/%d/inventory", base, ids[0]), nil)
	default:
		return http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/cache?product_id=%d", base, ids[0]), nil)
	}
}
