package metrics

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Registry is a prometheus.Registry that also remembers what is registered
// in it. A vector with no series yet is invisible to Gather, so without
// this record a test could not list every metric family a service exports,
// and a dashboard could name a metric that no longer exists.
type Registry struct {
	*prometheus.Registry

	mu         sync.Mutex
	collectors []prometheus.Collector
}

// Register registers c and records it.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister registers every collector, panicking on the first error, as
// prometheus.Registry.MustRegister does.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c and forgets it.
func (r *Registry) Unregister(c prometheus.Collector) bool {
	if !r.Registry.Unregister(c) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = slices.DeleteFunc(r.collectors, func(x prometheus.Collector) bool { return x == c })
	return true
}

// Family is one metric family a registry exports: its name and its type in
// the text exposition format (counter, gauge, histogram, summary, untyped).
type Family struct {
	Name string
	Type string
}

// String renders the family as "name type", one line of a golden list.
func (f Family) String() string { return f.Name + " " + f.Type }

// Families lists every metric family r exports, sorted by name: what Gather
// returns now, plus the families of vectors that have no series yet, which
// Gather leaves out.
func (r *Registry) Families() ([]Family, error) {
	mfs, err := r.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	types := map[string]string{}
	for _, mf := range mfs {
		// COUNTER, GAUGE, ... as the exposition format spells them.
		types[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	r.mu.Lock()
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()
	for _, c := range collectors {
		typ := vectorType(c)
		if typ == "" {
			continue // not a vector: Gather has already reported it
		}
		names, err := describedNames(c)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if _, ok := types[n]; !ok {
				types[n] = typ
			}
		}
	}
	out := make([]Family, 0, len(types))
	for n, t := range types {
		out = append(out, Family{Name: n, Type: t})
	}
	slices.SortFunc(out, func(a, b Family) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// vectorType is the exposition type of a vector collector, "" for anything
// else.
func vectorType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	return ""
}

// descName finds the fully-qualified name in a Desc's String form, the only
// place client_golang exposes it.
var descName = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)

func describedNames(c prometheus.Collector) ([]string, error) {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var names []string
	var bad error
	for d := range ch {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			bad = fmt.Errorf("cannot read the metric name from %s", d)
			continue
		}
		n, err := strconv.Unquote(m[1])
		if err != nil {
			bad = fmt.Errorf("cannot read the metric name from %s: %w", d, err)
			continue
		}
		names = append(names, n)
	}
	return names, bad
}
