// Package cli is the bench command: flags, the settings matrix, recording
// and the chart.
package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/tools/bench/internal/chart"
	"github.com/devops-exam/msgpipe/tools/bench/internal/latencyproxy"
	"github.com/devops-exam/msgpipe/tools/bench/internal/scenario"
	"github.com/devops-exam/msgpipe/tools/bench/internal/wrk"
)

const usage = `usage: bench api|drain|latency [flags]   run a benchmark (see -h of each)
       bench chart -in FILE -out PNG [-api-x NAME] [-drain-x NAME]`

// Main runs the command and returns its exit status: 0, 1 for a failed run,
// 2 for bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "api", "drain", "latency":
		err = runBench(ctx, args[0], args[1:], stdout, stderr)
	case "chart":
		err = runChart(args[1:], stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
}

type usageError struct{ error }

// envFlag collects NAME=v1,v2,… settings; each value list is one axis of
// the matrix of runs.
type envFlag []axis

type axis struct {
	name   string
	values []string
}

func (f *envFlag) String() string { return "" }
func (f *envFlag) Set(s string) error {
	k, v, err := scenario.ParseEnv(s)
	if err != nil {
		return err
	}
	*f = append(*f, axis{k, strings.Split(v, ",")})
	return nil
}

// matrix expands the axes into every combination, in order.
func (f envFlag) matrix() []map[string]string {
	out := []map[string]string{{}}
	for _, a := range f {
		var next []map[string]string
		for _, m := range out {
			for _, v := range a.values {
				c := map[string]string{a.name: v}
				for k, w := range m {
					c[k] = w
				}
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

func runBench(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var env envFlag
	fs.Var(&env, "env", "`NAME=v1,v2` service setting; several values make several runs (repeatable)")
	sqsLat := fs.Duration("sqs-latency", 0, "added to every SQS call")
	s3Lat := fs.Duration("s3-latency", 0, "added to every S3 object PUT")
	record := fs.String("record", "", "append each result as a JSON line to this `file`")
	logs := fs.Bool("logs", false, "show the services' logs")
	clients := fs.Int("clients", 64, "api: concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "api: how long to load")
	requests := fs.Int("requests", 1_000_000, "api: at most this many requests")
	messages := fs.Int("messages", 2000, "drain: messages preloaded per run")
	runs := fs.Int("runs", 1, "drain: drains per setting")
	pause := fs.Duration("pause", 20*time.Millisecond, "latency: pause between two messages")
	loadgenName := fs.String("loadgen", "auto", "api: `wrk`, go, or auto (wrk when on PATH)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *clients < 1 || *duration <= 0 || *duration > 10*time.Minute || *requests < 1 || *messages < 1 || *messages > 1_000_000 || *runs < 1 || *runs > 1000 {
		return usageError{errors.New("clients ≥ 1, 0 < duration ≤ 10m, requests ≥ 1, 1 ≤ messages ≤ 1,000,000, 1 ≤ runs ≤ 1000")}
	}

	var useWrk bool
	switch *loadgenName {
	case "wrk":
		if !wrk.Available() {
			return usageError{errors.New("-loadgen wrk: wrk is not on PATH (Debian: apt-get install wrk)")}
		}
		useWrk = true
	case "auto":
		useWrk = wrk.Available()
	case "go":
	default:
		return usageError{fmt.Errorf("-loadgen %q: want wrk, go or auto", *loadgenName)}
	}

	bins, cleanup, err := stack.FindOrBuildTemp(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var logw io.Writer
	if *logs {
		logw = stderr
	}
	e, err := scenario.NewEnv(bins, logw)
	if err != nil {
		return err
	}
	defer e.Close()
	delays := latencyproxy.Delays{SQS: *sqsLat, S3Put: *s3Lat}
	if kind == "latency" && delays != (latencyproxy.Delays{}) {
		return usageError{errors.New("latency measures the pipeline on loopback: -sqs-latency and -s3-latency do not apply")}
	}

	for _, settings := range env.matrix() {
		var res any
		switch kind {
		case "api":
			r, err := scenario.API(ctx, e, scenario.APIConfig{Clients: *clients, Duration: *duration, MaxRequests: *requests, Wrk: useWrk, Delays: delays, Env: settings})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "api %s sqs+%s (%s, %d clients): %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.1f µs CPU/request (emulator %.1f, wrk %.1f), %d accepted, %d refused, SQS requests per 1000 messages: %s\n",
				describe(settings), *sqsLat, r.Loadgen, r.Clients, r.RPS, r.P50Ms, r.P99Ms, r.CPUPerRequestUs, r.EmulatorCPUPerRequestUs, r.WrkCPUPerRequestUs, r.Accepted, r.Refused, rates(r.SQSPer1000))
			res = r
		case "drain":
			r, err := scenario.Drain(ctx, e, scenario.DrainConfig{Messages: *messages, Runs: *runs, Delays: delays, Env: settings})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "drain %s sqs+%s s3+%s: %d×%d msgs, median %.0f msgs/s (worst %.0f), slowest message %.2f s, longest gap %.2f s, stalled runs %d (receive errors %d, failures %v), %.1f µs CPU/msg (emulator %.1f), SQS requests per 1000: %s; S3: %s\n",
				describe(settings), *sqsLat, *s3Lat, *runs, *messages, r.MsgsPerSec, r.WorstMsgsPerSec, r.SlowestSeconds, r.LongestGapSeconds, r.StalledRuns, r.ReceiveErrors, r.Failed, r.CPUPerMessageUs, r.EmulatorCPUPerMessageUs, rates(r.SQSPer1000), rates(r.S3Per1000))
			res = r
		case "latency":
			r, err := scenario.Latency(ctx, e, scenario.LatencyConfig{Messages: *messages, Pause: *pause, Env: settings})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "latency %s: %d msgs one at a time, send→stored p50 %.2f ms, p99 %.2f ms; 200→stored p50 %.2f ms, p99 %.2f ms; send→200 p50 %.2f ms\n",
				describe(settings), r.Messages, r.P50Ms, r.P99Ms, r.AfterOKP50Ms, r.AfterOKP99Ms, r.APIP50Ms)
			res = r
		}
		if *record != "" {
			if err := appendJSON(*record, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func describe(settings map[string]string) string {
	if len(settings) == 0 {
		return "defaults"
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + settings[k]
	}
	return strings.Join(parts, " ")
}

func rates(rs []scenario.OpRate) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %.0f", r.Operation, r.Per1000)
	}
	return strings.Join(parts, ", ")
}

func appendJSON(path string, v any) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// record is the part of a recorded result the chart reads.
type record struct {
	Scenario       string            `json:"scenario"`
	Env            map[string]string `json:"env"`
	SQSLatencyMs   float64           `json:"sqs_latency_ms"`
	S3PutLatencyMs float64           `json:"s3_put_latency_ms"`
	RPS            float64           `json:"rps"`
	MsgsPerSec     float64           `json:"msgs_per_sec"`
}

func runChart(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "recorded results (JSON lines)")
	out := fs.String("out", "", "PNG to write")
	apiX := fs.String("api-x", "", "api setting on the x axis")
	drainX := fs.String("drain-x", "WORKER_CONCURRENCY", "consumer setting on the x axis")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *in == "" || *out == "" {
		return usageError{errors.New("chart needs -in and -out")}
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", *in, line, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var charts []chart.Chart
	if *apiX != "" {
		c, err := panel(recs, "api", *apiX, "api: accepted requests/s, 64 clients", "requests/s", func(r record) float64 { return r.RPS })
		if err != nil {
			return err
		}
		charts = append(charts, c)
	}
	c, err := panel(recs, "drain", *drainX, "consumer: drain of a preloaded queue", "messages/s", func(r record) float64 { return r.MsgsPerSec })
	if err != nil {
		return err
	}
	charts = append(charts, c)
	w, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := chart.WritePNG(w, charts...); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// panel groups the scenario's records into one line per latency and other
// settings, with x the named setting.
func panel(recs []record, scenarioName, x, title, ylabel string, y func(record) float64) (chart.Chart, error) {
	lines := map[string]*chart.Series{}
	var order []string
	for _, r := range recs {
		if r.Scenario != scenarioName {
			continue
		}
		xv, err := strconv.ParseFloat(r.Env[x], 64)
		if err != nil {
			return chart.Chart{}, fmt.Errorf("%s record without a numeric %s: %v", scenarioName, x, r.Env)
		}
		rest := map[string]string{}
		for k, v := range r.Env {
			if k != x {
				rest[k] = v
			}
		}
		name := fmt.Sprintf("SQS +%gms", r.SQSLatencyMs)
		if scenarioName == "drain" {
			name += fmt.Sprintf(", S3 put +%gms", r.S3PutLatencyMs)
		}
		if len(rest) > 0 {
			name += ", " + describe(rest)
		}
		s, ok := lines[name]
		if !ok {
			s = &chart.Series{Name: name}
			lines[name] = s
			order = append(order, name)
		}
		s.X = append(s.X, xv)
		s.Y = append(s.Y, y(r))
	}
	if len(order) == 0 {
		return chart.Chart{}, fmt.Errorf("no %s records with %s", scenarioName, x)
	}
	c := chart.Chart{Title: title, XLabel: x, YLabel: ylabel}
	for _, name := range order {
		s := *lines[name]
		idx := make([]int, len(s.X))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s.X[a], s.X[b]) })
		sorted := chart.Series{Name: s.Name}
		for _, i := range idx {
			sorted.X = append(sorted.X, s.X[i])
			sorted.Y = append(sorted.Y, s.Y[i])
		}
		c.Series = append(c.Series, sorted)
	}
	return c, nil
}
