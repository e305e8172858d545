package gcpolicy

import (
	"runtime/debug"
	"testing"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// current reads the GC percent without changing it.
func current() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestApplySetsTheDefaultWhenGOGCIsUnset(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	if got := Apply(lookup(nil)); got != DefaultGOGC {
		t.Errorf("Apply = %d, want %d", got, DefaultGOGC)
	}
	if got := current(); got != DefaultGOGC {
		t.Errorf("GC percent %d, want %d", got, DefaultGOGC)
	}
}

// An operator's GOGC, already applied by the runtime, is left alone.
func TestApplyLeavesAnOperatorsGOGCAlone(t *testing.T) {
	before := debug.SetGCPercent(150)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for v, want := range map[string]int{"150": 150, "off": -1, "junk": 100} {
		if got := Apply(lookup(map[string]string{"GOGC": v})); got != want {
			t.Errorf("GOGC=%s: Apply = %d, want %d", v, got, want)
		}
		if got := current(); got != 150 {
			t.Errorf("GOGC=%s: GC percent changed to %d", v, got)
		}
	}
}
