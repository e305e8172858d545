// Package latencyproxy stands between the services and the AWS emulator to
// make loopback behave like a network: it holds each call for the round trip
// its kind would take against AWS.
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
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/internal/proxybody"
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
	p := &Proxy{URL: "http://" + ln.Addr().String(), delays: d, done: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the Host the client signed
		},
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: proxybody.InMemory(p.handler(rp)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := p.delay(Classify(r)); d > 0 {
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
