package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/tools/bench/internal/loadgen"
)

// LatencyConfig is the end-to-end benchmark at low load: Messages sent one
// at a time, Pause apart, each waited for until its object is stored.
type LatencyConfig struct {
	Messages int
	Pause    time.Duration
	// Env is added to both services' environment (settings under test).
	Env map[string]string
	// Timeout bounds the wait for one object.
	Timeout time.Duration
}

// LatencyResult is what a user of the pipeline sees. Stored times are the
// emulator's own: its proxy notes each object the moment S3 answered the
// consumer's PUT, with no polling in between.
type LatencyResult struct {
	Scenario string            `json:"scenario"`
	Messages int               `json:"messages"`
	Env      map[string]string `json:"env,omitempty"`
	// Send to stored: the request's start to the object's PUT.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// OK to stored: the api's 200 to the object's PUT, the column "API
	// 200 → S3 object" of issue 10. Below zero when the object was stored
	// before the client had read the answer.
	AfterOKP50Ms float64 `json:"after_ok_p50_ms"`
	AfterOKP99Ms float64 `json:"after_ok_p99_ms"`
	// The api's own answer time, send to 200.
	APIP50Ms float64 `json:"api_p50_ms"`
}

// latencyWarmup messages open connections and fill the token cache first.
const latencyWarmup = 20

// Latency runs the end-to-end benchmark through both binaries.
func Latency(ctx context.Context, e *Env, cfg LatencyConfig) (_ LatencyResult, err error) {
	if cfg.Messages < 1 {
		return LatencyResult{}, errors.New("latency: need at least one message")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	st, err := stack.Start(ctx, stack.Options{
		Emulator:    e.Emulator,
		Names:       names("latency"),
		Binaries:    e.Binaries,
		APIEnv:      e.fewestHops(cfg.Env),
		ConsumerEnv: e.fewestHops(cfg.Env),
		Logs:        e.Logs,
	})
	if err != nil {
		return LatencyResult{}, err
	}
	defer stopAndForget(ctx, st, &err)
	tr := e.track(st.Resources.Bucket)
	client := &http.Client{Timeout: 10 * time.Second}
	bodies := requestBodies(st.Resources.Token, 64)

	var total, afterOK, api []time.Duration
	for i := range latencyWarmup + cfg.Messages {
		start := time.Now()
		id, err := post(ctx, client, st.APIURL+"/api/message", bodies[i%len(bodies)])
		if err != nil {
			return LatencyResult{}, err
		}
		ok := time.Now()
		stored, found := tr.waitForKey(objectSuffix(id), ok.Add(cfg.Timeout))
		if !found {
			return LatencyResult{}, fmt.Errorf("message %s not stored within %s", id, cfg.Timeout)
		}
		if i >= latencyWarmup {
			total = append(total, stored.Sub(start))
			afterOK = append(afterOK, stored.Sub(ok))
			api = append(api, ok.Sub(start))
		}
		select {
		case <-ctx.Done():
			return LatencyResult{}, ctx.Err()
		case <-time.After(cfg.Pause):
		}
	}
	return LatencyResult{
		Scenario: "latency", Messages: cfg.Messages, Env: cfg.Env,
		P50Ms: ms(quantile(total, 0.50)), P99Ms: ms(quantile(total, 0.99)),
		AfterOKP50Ms: ms(quantile(afterOK, 0.50)), AfterOKP99Ms: ms(quantile(afterOK, 0.99)),
		APIP50Ms: ms(quantile(api, 0.50)),
	}, nil
}

// post sends one message and returns the message_id of the api's 200.
func post(ctx context.Context, c *http.Client, url string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out struct {
		MessageID string `json:"message_id"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.MessageID == "" {
		return "", fmt.Errorf("api answered %d: %s", resp.StatusCode, b)
	}
	return out.MessageID, nil
}

// objectSuffix is the end of the key every copy of the message lands on,
// whatever its date.
func objectSuffix(messageID string) string { return "/" + messageID + ".json" }

// quantile of ds, which it sorts; q in [0, 1].
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return loadgen.Quantile(ds, q)
}

// waitForKey blocks until a key ending in suffix was written or the deadline
// passes, and returns when it was first written.
func (t *tracker) waitForKey(suffix string, deadline time.Time) (time.Time, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		if at, ok := t.find(suffix); ok {
			return at, true
		}
		select {
		case <-t.changed:
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

func (t *tracker) find(suffix string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, at := range t.seen {
		if strings.HasSuffix(key, suffix) {
			return at, true
		}
	}
	return time.Time{}, false
}
