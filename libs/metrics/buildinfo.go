package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time by Bazel's release stamping (x_defs in the services'
// go_binary rules and images/service_image.bzl, from tools/workspace_status.sh).
// Unstamped builds leave them empty, and BuildInfo falls back to what the Go
// toolchain recorded, if anything.
var (
	version  string
	revision string
)

// Build describes the running binary.
type Build struct {
	// Version is the stamped version (git describe), else the main module's
	// version as the Go toolchain recorded it, else "unknown".
	Version string
	// Revision is the stamped git commit, else the vcs.revision the Go
	// toolchain recorded (with "-dirty" for a modified tree), else "unknown".
	Revision string
	// GoVersion is the Go release the binary was built with.
	GoVersion string
}

// BuildInfo returns what is known about the running binary.
func BuildInfo() Build {
	bi, _ := debug.ReadBuildInfo()
	return buildFrom(version, revision, bi)
}

// buildFrom prefers the stamped values, then bi's, then "unknown".
func buildFrom(stampedVersion, stampedRevision string, bi *debug.BuildInfo) Build {
	b := Build{Version: stampedVersion, Revision: stampedRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if b.Revision == "" {
			var rev string
			var dirty bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if rev != "" && dirty {
				rev += "-dirty"
			}
			b.Revision = rev
		}
	}
	if b.Version == "" {
		b.Version = "unknown"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// RegisterBuildInfo exports <namespace>_build_info{version,revision,go_version},
// always 1, so a dashboard can show which build each task runs and a query
// can join on it.
func RegisterBuildInfo(reg prometheus.Registerer, namespace string, b Build) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}
