// Package loadgen is a closed-loop HTTP load generator: a fixed number of
// clients, each sending its next request as soon as the last one is
// answered, for a bounded time and a bounded count. Every latency is kept,
// so quantiles are exact rather than estimated.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	URL    string
	Header http.Header
	// Bodies are sent in turn; at least one.
	Bodies [][]byte
	// Clients is the number of concurrent connections, each with one
	// request outstanding.
	Clients int
	// Duration and MaxRequests bound the run; whichever comes first ends it.
	Duration    time.Duration
	MaxRequests int
}

// Result is what a run measured.
type Result struct {
	Requests int         // answered, whatever the status
	Failures int         // transport errors (no answer)
	Status   map[int]int // answers by status code
	Elapsed  time.Duration
	// Latencies of the answered requests, sorted.
	Latencies []time.Duration
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the latencies, by the
// nearest-rank method.
func (r Result) Quantile(q float64) time.Duration { return Quantile(r.Latencies, q) }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted, by the
// nearest-rank method; 0 when it is empty.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.5) - 1
	return sorted[min(max(i, 0), n-1)]
}

// Run sends requests until the duration passes, MaxRequests have been
// sent, or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Clients < 1 || len(cfg.Bodies) == 0 || cfg.Duration <= 0 || cfg.MaxRequests < 1 {
		return Result{}, fmt.Errorf("loadgen: need clients ≥ 1, a body, a duration and a request limit")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Clients, MaxConnsPerHost: cfg.Clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		issued atomic.Int64
		mu     sync.Mutex
		res    = Result{Status: map[int]int{}}
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			status := map[int]int{}
			failures := 0
			for ctx.Err() == nil {
				n := issued.Add(1)
				if n > int64(cfg.MaxRequests) {
					break
				}
				body := cfg.Bodies[int(n)%len(cfg.Bodies)]
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
				if err != nil {
					failures++
					break
				}
				req.Header = cfg.Header.Clone()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failures++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				status[resp.StatusCode]++
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			for k, v := range status {
				res.Status[k] += v
			}
			res.Failures += failures
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, nil
}
