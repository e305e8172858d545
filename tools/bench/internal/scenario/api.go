package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/tools/bench/internal/latencyproxy"
	"github.com/devops-exam/msgpipe/tools/bench/internal/loadgen"
	"github.com/devops-exam/msgpipe/tools/bench/internal/proccpu"
)

// APIConfig is one api benchmark.
type APIConfig struct {
	Clients     int
	Duration    time.Duration
	MaxRequests int
	Delays      latencyproxy.Delays
	// Env is added to the api's environment (settings under test).
	Env map[string]string
}

// APIResult is what it measured. Only the api runs: the consumer is
// stopped, so its CPU does not count against the api's.
type APIResult struct {
	Scenario        string                  `json:"scenario"`
	Clients         int                     `json:"clients"`
	Env             map[string]string       `json:"env,omitempty"`
	SQSLatencyMs    float64                 `json:"sqs_latency_ms"`
	Requests        int                     `json:"requests"`
	Accepted        int                     `json:"accepted"`
	Refused         map[string]int          `json:"refused,omitempty"`
	Failures        int                     `json:"failures"`
	Seconds         float64                 `json:"seconds"`
	RPS             float64                 `json:"rps"`
	P50Ms           float64                 `json:"p50_ms"`
	P99Ms           float64                 `json:"p99_ms"`
	CPUPerRequestUs float64                 `json:"cpu_per_request_us"`
	SQSPer1000      []latencyproxy.KindRate `json:"sqs_per_1000"`
}

// warmup requests fetch the token, open connections and size the pools
// before anything is measured.
const warmup = 500

// API runs one api benchmark.
func API(ctx context.Context, e *Env, cfg APIConfig) (APIResult, error) {
	proxy, err := latencyproxy.Start(e.Emulator.URL, cfg.Delays)
	if err != nil {
		return APIResult{}, err
	}
	defer proxy.Close()
	st, err := stack.Start(ctx, stack.Options{
		Emulator:    e.Emulator,
		Names:       names("api"),
		Binaries:    e.Binaries,
		APIEnv:      withEndpoint(proxy.URL, cfg.Env),
		ConsumerEnv: withEndpoint(proxy.URL, nil),
		Logs:        e.Logs,
	})
	if err != nil {
		return APIResult{}, err
	}
	defer st.Stop(10 * time.Second)
	if _, err := st.Consumer.Stop(10 * time.Second); err != nil {
		return APIResult{}, err
	}

	lc := loadgen.Config{
		URL:    st.APIURL + "/api/message",
		Header: http.Header{"Content-Type": {"application/json"}},
		Bodies: requestBodies(st.Resources.Token, 256),
	}
	lc.Clients, lc.Duration, lc.MaxRequests = min(cfg.Clients, 8), time.Minute, warmup
	if _, err := loadgen.Run(ctx, lc); err != nil {
		return APIResult{}, err
	}
	proxy.Reset()
	pid := st.API.Pid()
	cpu0, err := proccpu.Time(pid)
	if err != nil {
		return APIResult{}, err
	}
	lc.Clients, lc.Duration, lc.MaxRequests = cfg.Clients, cfg.Duration, cfg.MaxRequests
	res, err := loadgen.Run(ctx, lc)
	if err != nil {
		return APIResult{}, err
	}
	cpu1, err := proccpu.Time(pid)
	if err != nil {
		return APIResult{}, err
	}
	out := APIResult{
		Scenario:     "api",
		Clients:      cfg.Clients,
		Env:          cfg.Env,
		SQSLatencyMs: ms(cfg.Delays.SQS),
		Requests:     res.Requests,
		Accepted:     res.Status[http.StatusOK],
		Failures:     res.Failures,
		Seconds:      res.Elapsed.Seconds(),
		RPS:          res.Rate(),
		P50Ms:        ms(res.Quantile(0.50)),
		P99Ms:        ms(res.Quantile(0.99)),
		SQSPer1000:   latencyproxy.Per1000(proxy.Counts(), "sqs:", res.Status[http.StatusOK]),
	}
	if res.Requests > 0 {
		out.CPUPerRequestUs = float64((cpu1 - cpu0).Microseconds()) / float64(res.Requests)
	}
	for code, n := range res.Status {
		if code != http.StatusOK {
			if out.Refused == nil {
				out.Refused = map[string]int{}
			}
			out.Refused[strconv.Itoa(code)] = n
		}
	}
	if out.Accepted == 0 {
		return out, fmt.Errorf("api accepted none of %d requests (%v, %d transport failures)", res.Requests, out.Refused, res.Failures)
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
