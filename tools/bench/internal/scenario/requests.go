package scenario

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
)

// OpRate is one AWS operation's requests per 1,000 messages.
type OpRate struct {
	Operation string  `json:"operation"`
	Per1000   float64 `json:"per_1000"`
}

// awsRequests reads a service's own count of the requests it sent to AWS,
// retries included (<namespace>_aws_requests_total{service,operation}), from
// its /metrics: what AWS bills, counted where it is sent.
func awsRequests(ctx context.Context, p *stack.Process, metric, service string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + stack.DialAddr(p.Addr) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseRequests(resp.Body, metric, service)
}

// parseRequests sums metric's samples by their operation label, for the
// samples whose service label is service.
func parseRequests(r io.Reader, metric, service string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("unreadable sample %q", line)
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len(metric)+1:end], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			return nil, fmt.Errorf("unreadable sample %q", line)
		}
		if labels["service"] == service {
			out[labels["operation"]] += v
		}
	}
	return out, sc.Err()
}

// per1000 turns request counts into requests per 1,000 messages, sorted
// by operation.
func per1000(counts map[string]float64, messages int) []OpRate {
	out := make([]OpRate, 0, len(counts))
	for op, n := range counts {
		if messages > 0 {
			out = append(out, OpRate{Operation: op, Per1000: n * 1000 / float64(messages)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Operation < out[j].Operation })
	return out
}

// minus returns a - b, by key.
func minus(a, b map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
