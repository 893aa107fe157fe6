//go:build wireinject

package readmod

import (
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/usecase/inventory"
)

func newReadPath(c config.Cache, d config.DB, sc config.Schema, repo *gormrepo.Repository, reg prometheus.Registerer, log *slog.Logger) (*inventory.ReadPath, func(), error) {
	wire.Build(ProviderSet, wire.Bind(new(inventory.StockRepository), new(*gormrepo.Repository)))
	return nil, nil, nil
}
