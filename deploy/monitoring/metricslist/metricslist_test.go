package metricslist

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/libs/metrics"
)

func TestFormatThenParseRoundTrips(t *testing.T) {
	fams := []metrics.Family{{Name: "a_total", Type: "counter"}, {Name: "b_seconds", Type: "histogram"}}
	data := Format(fams)
	if !bytes.Contains(data, []byte(Regenerate)) {
		t.Errorf("the header does not say how to regenerate:\n%s", data)
	}
	path := filepath.Join(t.TempDir(), "x.txt")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil || !reflect.DeepEqual(got, fams) {
		t.Fatalf("ReadFile = %v, %v; want %v", got, err, fams)
	}
}

func TestParseRefusesMalformedLines(t *testing.T) {
	for _, in := range []string{"a_total\n", "a_total counter extra\n", "a_total countr\n"} {
		if _, err := Parse(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v, want an error naming line 1", in, err)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
	path := filepath.Join(t.TempDir(), "bad.txt")
	_ = os.WriteFile(path, []byte("x\n"), 0o644)
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile error %v does not name the file", err)
	}
}

func TestDiffNamesBothDirections(t *testing.T) {
	a := metrics.Family{Name: "a_total", Type: "counter"}
	b := metrics.Family{Name: "b", Type: "gauge"}
	bAsCounter := metrics.Family{Name: "b", Type: "counter"}
	if d := Diff([]metrics.Family{a, b}, []metrics.Family{a, b}); d != "" {
		t.Errorf("equal lists differ: %s", d)
	}
	d := Diff([]metrics.Family{a, bAsCounter}, []metrics.Family{a, b})
	if !strings.Contains(d, "- b gauge (listed, not exported)") || !strings.Contains(d, "+ b counter (exported, not listed)") {
		t.Errorf("Diff = %q", d)
	}
}

// Check names what differs and how to regenerate; with update it writes
// the list, after which the same families agree with it.
func TestCheckComparesOrUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.txt")
	got := []metrics.Family{{Name: "msgpipe_x_total", Type: "counter"}}
	if _, err := Check("svc", path, got, false); err == nil {
		t.Error("a missing list: want an error")
	}
	if msg, err := Check("svc", path, got, true); err != nil || msg != "" {
		t.Fatalf("update: %q, %v", msg, err)
	}
	if msg, err := Check("svc", path, got, false); err != nil || msg != "" {
		t.Errorf("after update: %q, %v", msg, err)
	}
	renamed := []metrics.Family{{Name: "msgpipe_y_total", Type: "counter"}}
	msg, err := Check("svc", path, renamed, false)
	if err != nil || !strings.Contains(msg, "msgpipe_y_total") || !strings.Contains(msg, "msgpipe_x_total") || !strings.Contains(msg, Regenerate) {
		t.Errorf("renamed metric: %q, %v", msg, err)
	}
}

// Capture hands over the registry the constructor builds and puts the
// constructor back at cleanup.
func TestCapture(t *testing.T) {
	built := metrics.NewRegistry()
	newRegistry := func() *metrics.Registry { return built }
	var undo func()
	got := Capture(func(f func()) { undo = f }, &newRegistry)
	if r := newRegistry(); r != built {
		t.Fatal("the wrapped constructor returned another registry")
	}
	if r := <-got; r != built {
		t.Error("the captured registry is not the one built")
	}
	newRegistry()
	newRegistry() // the channel is full: this build must not block
	undo()
	<-got
	newRegistry()
	select {
	case <-got:
		t.Error("the constructor still captures after cleanup")
	default:
	}
}
