package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMatrixExpandsEveryCombination(t *testing.T) {
	var f envFlag
	for _, s := range []string{"WORKER_CONCURRENCY=10,50", "RECEIVE_CONCURRENCY=1,2,4"} {
		if err := f.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	m := f.matrix()
	if len(m) != 6 {
		t.Fatalf("matrix has %d runs, want 6: %v", len(m), m)
	}
	if !reflect.DeepEqual(m[0], map[string]string{"WORKER_CONCURRENCY": "10", "RECEIVE_CONCURRENCY": "1"}) ||
		!reflect.DeepEqual(m[5], map[string]string{"WORKER_CONCURRENCY": "50", "RECEIVE_CONCURRENCY": "4"}) {
		t.Errorf("matrix = %v", m)
	}
	if got := (envFlag{}).matrix(); len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("no settings: matrix = %v, want one run with defaults", got)
	}
	for _, bad := range []string{"worker=1", "NOVALUE", "=1"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"drain", "-runs", "0"}, {"api", "extra"}, {"chart"}} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("Main(%q) = %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

// The chart reads recorded results and draws one line per latency and
// other settings, x being the named setting.
func TestChartFromRecords(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "results.jsonl")
	lines := []string{
		`{"scenario":"drain","env":{"WORKER_CONCURRENCY":"50"},"sqs_latency_ms":5,"s3_put_latency_ms":25,"msgs_per_sec":1500}`,
		`{"scenario":"drain","env":{"WORKER_CONCURRENCY":"10"},"sqs_latency_ms":5,"s3_put_latency_ms":25,"msgs_per_sec":350}`,
		`{"scenario":"api","env":{"PUBLISH_MAX_IN_FLIGHT":"4"},"sqs_latency_ms":5,"rps":9000}`,
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := panel(mustRead(t, in), "drain", "WORKER_CONCURRENCY", "t", "y", func(r record) float64 { return r.MsgsPerSec })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Series) != 1 || !reflect.DeepEqual(c.Series[0].X, []float64{10, 50}) || !reflect.DeepEqual(c.Series[0].Y, []float64{350, 1500}) {
		t.Errorf("series = %+v, want one line sorted by workers", c.Series)
	}
	out := filepath.Join(dir, "chart.png")
	var errb bytes.Buffer
	if code := Main(context.Background(), []string{"chart", "-in", in, "-out", out, "-api-x", "PUBLISH_MAX_IN_FLIGHT"}, &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("chart exited %d: %s", code, errb.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("chart is not a PNG: %v", err)
	}
	if code := Main(context.Background(), []string{"chart", "-in", in, "-out", out, "-drain-x", "MISSING"}, &bytes.Buffer{}, &errb); code != 1 {
		t.Errorf("chart on a setting no record has: exit %d, want 1", code)
	}
}

func mustRead(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []record
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}
