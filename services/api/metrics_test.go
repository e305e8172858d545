package main

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/devops-exam/msgpipe/deploy/monitoring/metricslist"
)

var update = flag.Bool("update", false, "rewrite the metrics list from the registry run builds")

// metricsList is the checked-in list the alert rules and the dashboard are
// checked against (deploy/monitoring).
var metricsList = filepath.Join("..", "..", "deploy", "monitoring", "metrics", "api.txt")

// TestMetricsList holds the metric families the running service exports
// to the checked-in list: rename or drop a metric and this fails until the
// list is regenerated, and then the monitoring test fails for every rule or
// panel still using the old name.
func TestMetricsList(t *testing.T) {
	captured := metricslist.Capture(t.Cleanup, &newRegistry)

	s := newStack(t)
	_, _, stop, _ := start(t, s.env(nil))
	reg := <-captured
	got, err := reg.Families()
	stop()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := metricslist.Check("api", metricsList, got, *update)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "" {
		t.Fatal(msg)
	}
}
