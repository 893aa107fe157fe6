package rig

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// batchSize keeps each batch request far below the API's limit.
const batchSize = 100

// DatabaseAnswers reads what a read node must answer for each of ids now:
// the product's rows in active warehouses, ordered by code; a product
// without any is a 404 (an Answer without warehouses).
func (p *Pipeline) DatabaseAnswers(ctx context.Context, ids []int64) (map[int64]Answer, error) {
	out := make(map[int64]Answer, len(ids))
	for _, id := range ids {
		out[id] = Answer{ProductID: id}
	}
	rows, err := p.DB.QueryContext(ctx, `SELECT s.product_id, w.code, s.qty_salable
		FROM stock_items s JOIN warehouses w ON w.id = s.warehouse_id WHERE w.is_active`)
	if err != nil {
		return nil, fmt.Errorf("read the answers from the database: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var l Line
		if err := rows.Scan(&id, &l.Code, &l.Qty); err != nil {
			return nil, fmt.Errorf("read the answers from the database: %w", err)
		}
		if a, ok := out[id]; ok {
			a.Warehouses = append(a.Warehouses, l)
			out[id] = a
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the answers from the database: %w", err)
	}
	for id, a := range out {
		slices.SortFunc(a.Warehouses, func(x, y Line) int { return strings.Compare(x.Code, y.Code) })
		out[id] = a
	}
	return out, nil
}

// Differences asks n for every product of ids and describes each answer
// that differs from the database now; a node that does not answer is one.
func (p *Pipeline) Differences(ctx context.Context, n *Node, ids []int64) ([]string, error) {
	want, err := p.DatabaseAnswers(ctx, ids)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for chunk := range slices.Chunk(ids, batchSize) {
		got, err := Fetch(ctx, p.Client, n.Base(), chunk, 0)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: products %d..%d: %v", n.Name, chunk[0], chunk[len(chunk)-1], err))
			continue
		}
		for _, a := range got {
			if w := want[a.ProductID]; a.String() != w.String() {
				diffs = append(diffs, fmt.Sprintf("%s: product %d: %s, database %s", n.Name, a.ProductID, a, w))
			}
		}
	}
	return diffs, nil
}
