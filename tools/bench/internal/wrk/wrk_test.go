package wrk

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const report = `Running 10s test @ http://127.0.0.1:8080/api/message
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.21ms    2.10ms  41.07ms   80.12%
    Req/Sec     7.71k   512.33     8.60k    71.00%
  Latency Distribution
     50%    3.87ms
     75%    5.01ms
     90%    6.52ms
     99%   11.20ms
  153412 requests in 10.01s, 38.91MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  15326.87
Transfer/sec:      3.89MB
`

func TestParse(t *testing.T) {
	r, err := Parse(report)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Requests: 153412, Non2xx: 12, Elapsed: 10010 * time.Millisecond, RPS: 15326.87, P50: 3870 * time.Microsecond, P99: 11200 * time.Microsecond}
	if r != want {
		t.Errorf("Parse = %+v, want %+v", r, want)
	}
	if _, err := Parse("Running 10s test\nunable to connect\n"); err == nil {
		t.Error("a report without figures parsed")
	}
}

// Run hands wrk the connections, threads, duration, latency flag, a Lua
// script that POSTs the body as JSON, and the URL, and reads its report. A
// stand-in wrk on PATH checks the arguments and the script.
func TestRunPassesTheLoadAndReadsTheReport(t *testing.T) {
	dir := t.TempDir()
	fake := `#!/bin/sh
[ "$*" = "-t 2 -c 64 -d 3s --latency -s $9 http://127.0.0.1:1/api/message" ] || { echo "args: $*"; exit 3; }
grep -q 'wrk.method = "POST"' "$9" && grep -q 'Content-Type"] = "application/json"' "$9" &&
  grep -q 'wrk.body = "{\\"a\\":\\"b\\"}"' "$9" || { cat "$9"; exit 4; }
i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done # some CPU for Run to count
cat <<'EOR'
` + report + `EOR
`
	if err := os.WriteFile(filepath.Join(dir, "wrk"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// The stand-in needs sh, grep and cat; wrk itself must come from dir.
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if !Available() {
		t.Fatal("the stand-in wrk is not found on PATH")
	}
	r, err := Run(context.Background(), Config{URL: "http://127.0.0.1:1/api/message", Body: []byte(`{"a":"b"}`), Connections: 64, Threads: 2, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 153412 || r.P99 != 11200*time.Microsecond {
		t.Errorf("Run = %+v", r)
	}
	if r.CPU <= 0 {
		t.Errorf("wrk's own CPU was not counted: %+v", r)
	}
}
