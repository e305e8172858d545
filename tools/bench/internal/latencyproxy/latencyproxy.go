// Package latencyproxy stands between the services and the AWS emulator to
// make loopback behave like a network: it holds each call for the round trip
// its kind would take against AWS, and counts calls by kind, so a benchmark
// can report requests per message as well as speed.
package latencyproxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Delays are added before a call is forwarded. Zero means none.
type Delays struct {
	SQS   time.Duration // every SQS call, long polls included
	S3Put time.Duration // every S3 PUT of an object
	Other time.Duration // anything else (SSM, S3 reads)
}

// Proxy forwards to one emulator endpoint.
type Proxy struct {
	// URL is the endpoint to give the services, e.g. http://127.0.0.1:41234.
	URL string

	delays Delays
	srv    *http.Server
	done   chan struct{}

	mu     sync.Mutex
	counts map[string]int64
}

// Start serves a proxy to target on a free loopback port.
func Start(target string, d Delays) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), delays: d, done: make(chan struct{}), counts: map[string]int64{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the Host the client signed
		},
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := Classify(r)
		p.mu.Lock()
		p.counts[kind]++
		p.mu.Unlock()
		if d := p.delay(kind); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Proxy) delay(kind string) time.Duration {
	switch {
	case strings.HasPrefix(kind, "sqs:"):
		return p.delays.SQS
	case kind == "s3:PutObject":
		return p.delays.S3Put
	default:
		return p.delays.Other
	}
}

// Classify names a request as "<service>:<operation>": the JSON-protocol
// target for SQS and SSM ("sqs:SendMessageBatch"), and for path-style S3
// "s3:PutObject" or "s3:<METHOD>".
func Classify(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		svc, op, _ := strings.Cut(t, ".")
		switch {
		case strings.HasPrefix(svc, "AmazonSQS"):
			return "sqs:" + op
		case strings.HasPrefix(svc, "AmazonSSM"):
			return "ssm:" + op
		}
		return "other:" + t
	}
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") == "" {
		return "s3:PutObject"
	}
	return "s3:" + r.Method
}

// Counts returns the calls seen since the last Reset, by kind.
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Reset forgets the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.counts = map[string]int64{}
	p.mu.Unlock()
}

// Per1000 turns counts into calls per 1,000 messages, for the kinds that
// start with prefix ("sqs:"), in a stable order.
func Per1000(counts map[string]int64, prefix string, messages int) []KindRate {
	var out []KindRate
	for k, v := range counts {
		if strings.HasPrefix(k, prefix) && messages > 0 {
			out = append(out, KindRate{Kind: k, Per1000: float64(v) * 1000 / float64(messages)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// KindRate is one line of Per1000.
type KindRate struct {
	Kind    string  `json:"kind"`
	Per1000 float64 `json:"per_1000"`
}

// Close stops the proxy; open long polls are cut.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.srv.Close()
	}
	<-p.done
	return err
}
