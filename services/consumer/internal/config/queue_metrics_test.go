package config

import (
	"strings"
	"testing"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
)

func TestQueueMetricsInterval(t *testing.T) {
	for _, c := range []struct {
		value   string
		want    time.Duration
		problem string
	}{
		{"0", 0, ""}, // off
		{"1s", time.Second, ""},
		{"45", 45 * time.Second, ""}, // a bare integer is seconds
		{"1h", time.Hour, ""},
		{"500ms", 0, "QUEUE_METRICS_INTERVAL=500ms is below 1s (0 turns sampling off)"},
		{"-1s", 0, "QUEUE_METRICS_INTERVAL=-1s is out of range"},
		{"2h", 0, "QUEUE_METRICS_INTERVAL=2h0m0s is out of range"},
		{"soon", 0, `QUEUE_METRICS_INTERVAL="soon" is not a duration`},
	} {
		env := required()
		env["QUEUE_METRICS_INTERVAL"] = c.value
		cfg, err := Load(libconfig.FromMap(env))
		switch {
		case c.problem == "" && err != nil:
			t.Errorf("%s: %v", c.value, err)
		case c.problem == "" && cfg.QueueMetricsInterval != c.want:
			t.Errorf("%s: interval %s, want %s", c.value, cfg.QueueMetricsInterval, c.want)
		case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
			t.Errorf("%s: error %v, want one containing %q", c.value, err, c.problem)
		}
	}
}
