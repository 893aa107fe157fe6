package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gintoki/gintoki/infrastructure/buildinfo"
)

// buildInfoGauge is gintoki_build_info: always 1, the build in its labels,
// so a query can join any series with the version that produced it.
func buildInfoGauge(info buildinfo.Info) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gintoki_build_info",
		Help: "Always 1; the labels name the running build (also printed by `gintoki version`).",
		ConstLabels: prometheus.Labels{
			"version": info.Version, "revision": info.Revision, "goversion": info.GoVersion,
		},
	}, func() float64 { return 1 })
}
