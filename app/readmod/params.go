package readmod

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/gintoki/gintoki/adapter/repository/gormrepo"
	"github.com/gintoki/gintoki/infrastructure/config"
)

// Params are what the read path takes from other modules.
type Params struct {
	fx.In
	Cache      config.Cache
	DB         config.DB
	Schema     config.Schema
	Repo       *gormrepo.Repository
	Registerer prometheus.Registerer
	Log        *slog.Logger
}
