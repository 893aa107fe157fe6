package telemetry

import (
	"testing"

	"github.com/gintoki/gintoki/infrastructure/buildinfo"
)

func TestRegistryCarriesBuildInfo(t *testing.T) {
	mfs, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := buildinfo.Get()
	for _, mf := range mfs {
		if mf.GetName() != "gintoki_build_info" {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%d series", len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || got["version"] != want.Version || got["revision"] != want.Revision ||
			got["goversion"] != want.GoVersion || len(got) != 3 {
			t.Fatalf("gintoki_build_info %v = %v, want labels of %+v and 1", got, m.GetGauge().GetValue(), want)
		}
		return
	}
	t.Fatal("no gintoki_build_info")
}
