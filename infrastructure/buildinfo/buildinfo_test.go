package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestLinkerValuesWinOverTheToolchainStamp(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.0.0-20260101000000-abcdef012345"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abcdef0123456789"}}}
	cases := []struct {
		name         string
		link, linkRv string
		bi           *debug.BuildInfo
		want         Info
	}{
		{"linker", "v1.2.3", "0123abc", bi, Info{"v1.2.3", "0123abc", "go1.99.1"}},
		{"toolchain", "", "", bi, Info{"v0.0.0-20260101000000-abcdef012345", "abcdef0123456789", "go1.99.1"}},
		{"plain go build without vcs", "", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}},
			Info{"(devel)", Unknown, "go1.99.1"}},
	}
	for _, c := range cases {
		if got := resolve(c.link, c.linkRv, c.bi); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := resolve("", "", nil); got.Version != Unknown || got.Revision != Unknown || got.GoVersion == "" {
		t.Errorf("no build info: %+v", got)
	}
}

func TestStringNamesAllThree(t *testing.T) {
	if got := (Info{"v1.2.3", "0123abc", "go1.99.1"}).String(); got != "gintoki v1.2.3 (revision 0123abc, go1.99.1)" {
		t.Errorf("%q", got)
	}
}
