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
// its /metrics: what AWS bills, counted where it is sent. It sums by
// operation the samples whose service label is service.
func awsRequests(ctx context.Context, p *stack.Process, metric, service string) (map[string]float64, error) {
	all, err := scrapeSamples(ctx, p, metric)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range all {
		if s.labels["service"] == service {
			out[s.labels["operation"]] += s.value
		}
	}
	return out, nil
}

// scrape sums metric's samples by the value of label ("" sums them all
// under "").
func scrape(ctx context.Context, p *stack.Process, metric, label string) (map[string]float64, error) {
	all, err := scrapeSamples(ctx, p, metric)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range all {
		out[s.labels[label]] += s.value
	}
	return out, nil
}

func scrapeSamples(ctx context.Context, p *stack.Process, metric string) ([]sample, error) {
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
	return parseSamples(resp.Body, metric)
}

// sample is one line of the text exposition format.
type sample struct {
	labels map[string]string
	value  float64
}

// parseSamples reads metric's samples, with or without labels.
func parseSamples(r io.Reader, metric string) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		s := sample{labels: map[string]string{}}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("unreadable sample %q", line)
			}
			for _, kv := range strings.Split(rest[1:end], ",") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					s.labels[k] = strings.Trim(v, `"`)
				}
			}
			rest = rest[end+1:]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return nil, fmt.Errorf("unreadable sample %q", line)
		}
		s.value = v
		out = append(out, s)
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
