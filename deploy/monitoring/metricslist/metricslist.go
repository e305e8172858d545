// Package metricslist reads and writes the checked-in lists of the metric
// families each service exports, deploy/monitoring/metrics/<service>.txt.
//
// Each service has a test that builds its registry exactly as its main does
// and compares the families with its list; the monitoring test checks every
// metric the alert rules and the dashboard use against the lists. So a
// renamed metric fails one of the two, whichever side changed. Regenerate
// the lists after adding or renaming a metric with the command in
// Regenerate.
package metricslist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/devops-exam/msgpipe/libs/metrics"
)

// Regenerate is the one command that rewrites every list from the services'
// real registries.
const Regenerate = "go test ./services/api ./services/consumer -run '^TestMetricsList$' -update"

// Types are the family types a list may name.
var types = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true, "gauge_histogram": true}

// Format renders fams as a list, one "name type" line each after a header
// saying how the file is made.
func Format(fams []metrics.Family) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Metric families the service exports, from its real registry. Generated; do not edit.\n# Regenerate: %s\n", Regenerate)
	for _, f := range fams {
		fmt.Fprintln(&b, f.String())
	}
	return b.Bytes()
}

// Parse reads a list. Blank lines and lines starting with # are skipped.
func Parse(r io.Reader) ([]metrics.Family, error) {
	var out []metrics.Family
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || !types[fields[1]] {
			return nil, fmt.Errorf("line %d: %q is not \"<name> <type>\"", n, line)
		}
		out = append(out, metrics.Family{Name: fields[0], Type: fields[1]})
	}
	return out, sc.Err()
}

// ReadFile reads the list at path.
func ReadFile(path string) ([]metrics.Family, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fams, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fams, nil
}

// Diff describes how got differs from want, one line per family, or
// returns "" when they are the same.
func Diff(got, want []metrics.Family) string {
	in := func(fams []metrics.Family) map[metrics.Family]bool {
		m := make(map[metrics.Family]bool, len(fams))
		for _, f := range fams {
			m[f] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for _, f := range want {
		if !g[f] {
			fmt.Fprintf(&b, "- %s (listed, not exported)\n", f)
		}
	}
	for _, f := range got {
		if !w[f] {
			fmt.Fprintf(&b, "+ %s (exported, not listed)\n", f)
		}
	}
	return b.String()
}

// Check compares a service's exported families with its list at path and
// returns a message naming each difference and the command that
// regenerates the lists, or "" when they agree. With update it rewrites
// the list from got instead.
func Check(service, path string, got []metrics.Family, update bool) (string, error) {
	if update {
		return "", os.WriteFile(path, Format(got), 0o644)
	}
	want, err := ReadFile(path)
	if err != nil {
		return "", err
	}
	if d := Diff(got, want); d != "" {
		return fmt.Sprintf("the %s's metrics differ from %s:\n%sIf the change is meant, regenerate the lists: %s", service, path, d, Regenerate), nil
	}
	return "", nil
}

// Capture replaces *newRegistry, a service's registry constructor, with
// one that also hands each registry it builds to the returned channel, so
// a test can run the service as main does and read what it registered. The
// cleanup puts the constructor back.
func Capture(cleanup func(func()), newRegistry *func() *metrics.Registry) <-chan *metrics.Registry {
	captured := make(chan *metrics.Registry, 1)
	orig := *newRegistry
	*newRegistry = func() *metrics.Registry {
		r := orig()
		select {
		case captured <- r:
		default: // one not yet read is kept; a build never blocks
		}
		return r
	}
	cleanup(func() { *newRegistry = orig })
	return captured
}
