//go:build wireinject

package relaymod

import (
	"log/slog"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/usecase/relay"
)

func newRelay(c Config, reg prometheus.Registerer, log *slog.Logger) (*relay.Relay, func(), error) {
	wire.Build(ProviderSet)
	return nil, nil, nil
}
