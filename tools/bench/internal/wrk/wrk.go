// Package wrk drives the wrk HTTP benchmarking tool (Debian's `wrk`) and
// reads its report. wrk is written in C and costs the shared cores far less
// per request than a Go load generator would, so more of the machine is
// left to the service under test.
package wrk

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is one run: POST Body to URL from Connections connections on
// Threads threads for Duration.
type Config struct {
	URL         string
	Body        []byte
	Connections int
	Threads     int
	Duration    time.Duration
}

// Result is what wrk reports.
type Result struct {
	Requests int
	Non2xx   int
	Elapsed  time.Duration
	RPS      float64
	P50, P99 time.Duration
	// CPU is what wrk itself used (user + system), its share of the cores.
	CPU time.Duration
}

// Available reports whether wrk is on PATH.
func Available() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}

// Run runs wrk and parses its report.
func Run(ctx context.Context, cfg Config) (Result, error) {
	dir, err := os.MkdirTemp("", "msgpipe-wrk-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = %s\n", strconv.Quote(string(cfg.Body)))
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return Result{}, err
	}
	threads := max(cfg.Threads, 1)
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(max(cfg.Connections, threads)),
		"-d", fmt.Sprintf("%ds", max(int(cfg.Duration.Seconds()), 1)),
		"--latency", "-s", script, cfg.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	r, err := Parse(string(out))
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, err
}

// Parse reads wrk's report: the request count and elapsed time, the
// non-2xx count, requests/s, and the 50 % and 99 % latencies of
// --latency's distribution.
func Parse(report string) (Result, error) {
	var r Result
	var haveReqs, haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err1 := strconv.Atoi(f[0])
			d, err2 := time.ParseDuration(strings.TrimSuffix(f[3], ","))
			if err1 != nil || err2 != nil {
				return r, fmt.Errorf("wrk: unreadable line %q", sc.Text())
			}
			r.Requests, r.Elapsed, haveReqs = n, d, true
		case len(f) == 5 && strings.Join(f[:4], " ") == "Non-2xx or 3xx responses:":
			n, err := strconv.Atoi(f[4])
			if err != nil {
				return r, fmt.Errorf("wrk: unreadable line %q", sc.Text())
			}
			r.Non2xx = n
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: unreadable line %q", sc.Text())
			}
			r.RPS, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := time.ParseDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk: unreadable line %q", sc.Text())
			}
			if f[0] == "50%" {
				r.P50, have50 = d, true
			} else {
				r.P99, have99 = d, true
			}
		}
	}
	if !haveReqs || !haveRPS || !have50 || !have99 {
		return r, fmt.Errorf("wrk: report lacks requests, rate or latency distribution:\n%s", report)
	}
	return r, nil
}
