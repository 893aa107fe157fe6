package gormrepo

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
)

// ProductIDsAfter returns up to limit product ids greater than after, in
// ascending order, from the mapped stock table.
func (r *Repository) ProductIDsAfter(ctx context.Context, after int64, limit int) (_ []int64, err error) {
	ctx, span := r.start(ctx, "StockRepository.ProductIDsAfter", "SELECT", attribute.Int("gintoki.limit", limit))
	defer func() { endSpan(span, err) }()

	rows, err := r.db.WithContext(ctx).Raw(r.q.productIDsAfter, after, limit).Rows()
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
