// Package buildinfo says which build of gintoki is running, for
// `gintoki version` and the gintoki_build_info metric.
//
// The version and revision come from the linker when the build sets them
// (`make build` and the Dockerfile do):
//
//	-ldflags "-X github.com/gintoki/gintoki/infrastructure/buildinfo.version=v1.2.3
//	          -X github.com/gintoki/gintoki/infrastructure/buildinfo.revision=<commit>"
//
// Otherwise they come from what the Go toolchain stamps into every binary
// (runtime/debug.ReadBuildInfo): the main module's version ("(devel)" for a
// plain `go build` of a checkout, a tag or pseudo-version for `go install
// ...@version`) and the VCS commit when the build could see the repository.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; empty means "ask the Go build info".
var (
	version  string
	revision string
)

// Unknown stands for a value no source provided.
const Unknown = "unknown"

// Info describes the running build.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi)
}

// resolve prefers the linker's values, then the toolchain's stamp.
func resolve(linkVersion, linkRevision string, bi *debug.BuildInfo) Info {
	info := Info{Version: linkVersion, Revision: linkRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		if info.Revision == "" {
			info.Revision = setting(bi, "vcs.revision")
		}
	}
	if info.Version == "" {
		info.Version = Unknown
	}
	if info.Revision == "" {
		info.Revision = Unknown
	}
	return info
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// String is the line `gintoki version` prints.
func (i Info) String() string {
	return "gintoki " + i.Version + " (revision " + i.Revision + ", " + i.GoVersion + ")"
}
