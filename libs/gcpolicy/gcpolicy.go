// Package gcpolicy sets how eagerly the services' garbage collector runs.
//
// Both services keep a live heap of a few tens of MB and allocate briskly
// per message, so with Go's default GOGC=100 the collector ran many times a
// second: a quarter of the consumer's CPU went to it. GOGC=400 lets the
// heap grow to five times the live data between collections instead of
// twice. Measured on the drain benchmark (docs/benchmarks.md): 25–30 % less
// CPU per message, for a peak RSS of 67 MB instead of 40 MB; GOGC=800 gave
// little more for 101 MB.
package gcpolicy

import (
	"runtime/debug"
	"strconv"
)

// DefaultGOGC is the GOGC the services run with when the environment does
// not set one.
const DefaultGOGC = 400

// Apply sets DefaultGOGC unless GOGC is set, in which case the Go runtime
// has already applied it and it is left alone. It returns the GOGC in
// force, for the start-up log; -1 means off.
func Apply(lookup func(string) (string, bool)) int {
	if v, set := lookup("GOGC"); set {
		if v == "off" {
			return -1
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 100 // the runtime ignores what it cannot parse
		}
		return n
	}
	debug.SetGCPercent(DefaultGOGC)
	return DefaultGOGC
}
