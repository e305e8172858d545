package metrics

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFamiliesListsVectorsWithoutSeries(t *testing.T) {
	reg := NewRegistry()
	NewHTTP(reg, "t") // two vectors with no series yet, and a gauge
	reg.MustRegister(
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_depth", Help: "h"}, []string{"queue"}),
		prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "t_sizes", Help: "h"}, []string{"kind"}),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "t_plain_total", Help: "h"}),
	)
	fams, err := reg.Families()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range fams {
		got[f.Name] = f.Type
	}
	for name, typ := range map[string]string{
		"t_http_requests_total":           "counter",
		"t_http_request_duration_seconds": "histogram",
		"t_http_requests_in_flight":       "gauge",
		"t_depth":                         "gauge",
		"t_sizes":                         "summary",
		"t_plain_total":                   "counter",
		"go_goroutines":                   "gauge",
		"process_cpu_seconds_total":       "counter",
	} {
		if got[name] != typ {
			t.Errorf("family %s: type %q, want %q", name, got[name], typ)
		}
	}
	if !slices.IsSortedFunc(fams, func(a, b Family) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("families are not sorted by name")
	}
	if s := (Family{Name: "a_total", Type: "counter"}).String(); s != "a_total counter" {
		t.Errorf("String() = %q", s)
	}
}

func TestRegisterRecordsOnlyWhatTheRegistryTook(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_gone_total", Help: "h"}, []string{"x"})
	dup := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_gone_total", Help: "h"}, []string{"x"})
	reg.MustRegister(c)
	var already prometheus.AlreadyRegisteredError
	if err := reg.Register(dup); !errors.As(err, &already) {
		t.Fatalf("second registration: %v, want AlreadyRegisteredError", err)
	}
	if !reg.Unregister(c) {
		t.Fatal("Unregister found nothing")
	}
	if reg.Unregister(c) {
		t.Fatal("Unregister twice succeeded")
	}
	fams, err := reg.Families()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.Name == "t_gone_total" {
			t.Fatal("an unregistered vector is still listed")
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustRegister of a duplicate did not panic")
		}
	}()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "go_goroutines", Help: "h"}))
}

func TestFamiliesReportsGatherErrors(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(failing{})
	if _, err := reg.Families(); err == nil {
		t.Fatal("Families hid a failing collector")
	}
}

// failing describes a metric and then sends an invalid one.
type failing struct{}

var failingDesc = prometheus.NewDesc("t_failing", "h", nil, nil)

func (failing) Describe(ch chan<- *prometheus.Desc) { ch <- failingDesc }
func (failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(failingDesc, errors.New("broken"))
}
