package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/tools/bench/internal/latencyproxy"
	"github.com/devops-exam/msgpipe/tools/bench/internal/loadgen"
	"github.com/devops-exam/msgpipe/tools/bench/internal/proccpu"
	"github.com/devops-exam/msgpipe/tools/bench/internal/wrk"
)

// APIConfig is one api benchmark.
type APIConfig struct {
	Clients     int
	Duration    time.Duration
	MaxRequests int // the Go load generator only; wrk runs for Duration
	// Wrk drives the load with wrk instead of the Go load generator.
	Wrk    bool
	Delays latencyproxy.Delays
	// Env is added to the api's environment (settings under test).
	Env map[string]string
}

// APIResult is what it measured. Only the api runs: the consumer is
// stopped, so its CPU does not count against the api's.
type APIResult struct {
	Scenario        string            `json:"scenario"`
	Loadgen         string            `json:"loadgen"`
	Clients         int               `json:"clients"`
	Env             map[string]string `json:"env,omitempty"`
	SQSLatencyMs    float64           `json:"sqs_latency_ms"`
	Requests        int               `json:"requests"`
	Accepted        int               `json:"accepted"`
	Refused         int               `json:"refused"`
	Failures        int               `json:"failures"` // no answer at all (Go load generator)
	Seconds         float64           `json:"seconds"`
	RPS             float64           `json:"rps"`
	P50Ms           float64           `json:"p50_ms"`
	P99Ms           float64           `json:"p99_ms"`
	CPUPerRequestUs float64           `json:"cpu_per_request_us"`
	// What the rest of the machine spent per request on the same cores:
	// the emulator (this process; with the Go load generator, that too)
	// and wrk. With the api's share they are the whole CPU budget.
	EmulatorCPUPerRequestUs float64  `json:"emulator_cpu_per_request_us"`
	WrkCPUPerRequestUs      float64  `json:"wrk_cpu_per_request_us,omitempty"`
	SQSPer1000              []OpRate `json:"sqs_per_1000"`
}

// warmup requests fetch the token, open connections and size the pools
// before anything is measured.
const warmup = 500

// API runs one api benchmark. Without injected latency the api talks to the
// emulator directly, with no proxy hop to share the cores.
func API(ctx context.Context, e *Env, cfg APIConfig) (_ APIResult, err error) {
	endpoint := e.Emulator.BackendURL
	if cfg.Delays != (latencyproxy.Delays{}) {
		proxy, err := latencyproxy.Start(endpoint, cfg.Delays)
		if err != nil {
			return APIResult{}, err
		}
		defer proxy.Close()
		endpoint = proxy.URL
	}
	st, err := stack.Start(ctx, stack.Options{
		Emulator:    e.Emulator,
		Names:       names("api"),
		Binaries:    e.Binaries,
		APIEnv:      withEndpoint(endpoint, cfg.Env),
		ConsumerEnv: withEndpoint(endpoint, nil),
		Logs:        e.Logs,
		// Only the api runs, so only its CPU is counted.
		DeferConsumer: true,
	})
	if err != nil {
		return APIResult{}, err
	}
	defer stopAndForget(ctx, st, &err)

	bodies := requestBodies(st.Resources.Token, 256)
	lc := loadgen.Config{
		URL:    st.APIURL + "/api/message",
		Header: http.Header{"Content-Type": {"application/json"}},
		Bodies: bodies,
	}
	lc.Clients, lc.Duration, lc.MaxRequests = min(cfg.Clients, 8), time.Minute, warmup
	if _, err := loadgen.Run(ctx, lc); err != nil {
		return APIResult{}, err
	}
	const metric = "msgpipe_api_aws_requests_total"
	before, err := awsRequests(ctx, st.API, metric, "SQS")
	if err != nil {
		return APIResult{}, err
	}
	pid := st.API.Pid()
	cpu0, err := proccpu.Time(pid)
	if err != nil {
		return APIResult{}, err
	}
	self0, err := proccpu.Time(os.Getpid())
	if err != nil {
		return APIResult{}, err
	}
	out := APIResult{Scenario: "api", Clients: cfg.Clients, Env: cfg.Env, SQSLatencyMs: ms(cfg.Delays.SQS)}
	if cfg.Wrk {
		r, err := wrk.Run(ctx, wrk.Config{URL: lc.URL, Body: bodies[0], Connections: cfg.Clients, Threads: 2, Duration: cfg.Duration})
		if err != nil {
			return APIResult{}, err
		}
		out.Loadgen = "wrk"
		out.Requests, out.Refused, out.Seconds = r.Requests, r.Non2xx, r.Elapsed.Seconds()
		out.P50Ms, out.P99Ms = ms(r.P50), ms(r.P99)
		out.WrkCPUPerRequestUs = perRequestUs(r.CPU, out.Requests)
	} else {
		lc.Clients, lc.Duration, lc.MaxRequests = cfg.Clients, cfg.Duration, cfg.MaxRequests
		r, err := loadgen.Run(ctx, lc)
		if err != nil {
			return APIResult{}, err
		}
		out.Loadgen = "go"
		out.Requests, out.Refused, out.Failures, out.Seconds = r.Requests, r.Requests-r.Status[http.StatusOK], r.Failures, r.Elapsed.Seconds()
		out.P50Ms, out.P99Ms = ms(r.Quantile(0.50)), ms(r.Quantile(0.99))
	}
	cpu1, err := proccpu.Time(pid)
	if err != nil {
		return APIResult{}, err
	}
	self1, err := proccpu.Time(os.Getpid())
	if err != nil {
		return APIResult{}, err
	}
	after, err := awsRequests(ctx, st.API, metric, "SQS")
	if err != nil {
		return APIResult{}, err
	}
	out.Accepted = out.Requests - out.Refused
	if out.Seconds > 0 {
		out.RPS = float64(out.Accepted) / out.Seconds
	}
	out.CPUPerRequestUs = perRequestUs(cpu1-cpu0, out.Requests)
	out.EmulatorCPUPerRequestUs = perRequestUs(self1-self0, out.Requests)
	out.SQSPer1000 = per1000(minus(after, before), out.Accepted)
	if out.Accepted == 0 {
		return out, fmt.Errorf("api accepted none of %d requests", out.Requests)
	}
	return out, nil
}

// requestBodies are n valid requests, each a little different, as real
// traffic would be.
func requestBodies(token string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b, _ := json.Marshal(map[string]any{
			"data": message.Data{
				EmailSubject:    fmt.Sprintf("Benchmark message %d", i),
				EmailSender:     "bench@example.com",
				EmailTimestream: strconv.FormatInt(1700000000+int64(i), 10),
				EmailContent:    fmt.Sprintf("Hello %d, this is a message of typical size for the pipeline.", i),
			},
			"token": token,
		})
		out[i] = b
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// perRequestUs spreads cpu over n requests (or messages), in µs.
func perRequestUs(cpu time.Duration, n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}
