package gormrepo

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
)

const productIDsAfterSQL = `SELECT DISTINCT product_id FROM stock_items WHERE product_id > ? ORDER BY product_id LIMIT ?`

// ProductIDsAfter returns up to limit product ids greater than after, in
// ascending order: keyset pagination, so every page costs the same however
// deep it is (the primary key starts with product_id).
func (r *Repository) ProductIDsAfter(ctx context.Context, after int64, limit int) (_ []int64, err error) {
	ctx, span := r.start(ctx, "StockRepository.ProductIDsAfter", "SELECT", attribute.Int("gintoki.limit", limit))
	defer func() { endSpan(span, err) }()

	rows, err := r.db.WithContext(ctx).Raw(productIDsAfterSQL, after, limit).Rows()
	if err != nil {
		return nil, wrapErr(ctx, err, "list product ids")
	}
	defer rows.Close()
	ids := make([]int64, 0, limit)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, wrapErr(ctx, err, "scan product ids")
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(ctx, err, "read product ids")
	}
	return ids, nil
}
