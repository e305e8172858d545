// Package stack runs the pipeline on one machine without an AWS account: the
// kumo emulator behind a fixed or random loopback port, the queue, dead-letter
// queue, bucket and token parameter the services expect, and the real api and
// consumer binaries as child processes pointed at it. tools/devstack, the
// integration tests and the E2E check's own tests all start the stack this
// way, so what a developer runs by hand is what the tests run.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sivchari/kumo"

	"github.com/devops-exam/msgpipe/internal/proxybody"
)

// ErrAddrInUse is wrapped by every error caused by a port that another
// process already holds, so callers can print one clear line for it.
var ErrAddrInUse = errors.New("address already in use")

var (
	backendOnce sync.Once
	backend     *kumo.Server
)

// kumoBackend returns the process's one kumo server. kumo keeps its state in
// package globals and its own tests warn that two servers race on that
// wiring, so every Emulator in a process fronts the same backend; callers
// keep their resources apart by name.
func kumoBackend() *kumo.Server {
	backendOnce.Do(func() { backend = kumo.NewServer() })
	return backend
}

// PutFunc is told about every object the emulator stored with a plain,
// successful PUT (not a multipart part, not a copy). It must not block.
type PutFunc func(bucket, key string)

// Emulator is a loopback endpoint for SQS, S3 and SSM.
type Emulator struct {
	// URL is the endpoint to give to AWS clients, e.g. http://127.0.0.1:4566.
	URL string
	// BackendURL is the emulator's own endpoint, without this proxy in
	// front: no PUT hook, one hop fewer. Benchmarks use it so the proxy's
	// CPU is not counted against the pipeline.
	BackendURL string

	srv  *http.Server
	done chan struct{}
}

// StartEmulator serves the emulator on addr ("127.0.0.1:0" picks a free port).
// onPut, if not nil, observes successful object writes.
func StartEmulator(addr string, onPut PutFunc) (*Emulator, error) {
	ln, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(kumoBackend().URL)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("emulator URL: %w", err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// Keep the Host the client signed and addressed, as a
			// transparent endpoint would.
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			// A burst of consumer workers and API handlers all talk to
			// one host; without a deep idle pool every request would
			// open a new loopback connection and exhaust ephemeral ports.
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     30 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A consumer cancelling its long poll on SIGTERM is normal,
			// not worth a log line.
			if !errors.Is(err, context.Canceled) {
				log.Printf("emulator proxy: %s %s: %v", r.Method, r.URL.Path, err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if onPut != nil {
		proxy.ModifyResponse = func(resp *http.Response) error {
			if bucket, key, ok := plainPut(resp); ok {
				onPut(bucket, key)
			}
			return nil
		}
	}
	e := &Emulator{
		URL:        "http://" + ln.Addr().String(),
		BackendURL: kumoBackend().URL,
		srv:        &http.Server{Handler: proxybody.InMemory(proxy), ReadHeaderTimeout: 10 * time.Second},
		done:       make(chan struct{}),
	}
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(ln)
	}()
	return e, nil
}

// plainPut recognises a successful path-style PutObject, which is how the
// services address S3 when an endpoint is overridden (libs/awsconfig.NewS3).
func plainPut(resp *http.Response) (bucket, key string, ok bool) {
	req := resp.Request
	if req == nil || req.Method != http.MethodPut || resp.StatusCode != http.StatusOK {
		return "", "", false
	}
	q := req.URL.Query()
	if q.Has("partNumber") || q.Has("uploadId") || q.Has("tagging") || q.Has("acl") ||
		req.Header.Get("X-Amz-Copy-Source") != "" || req.Header.Get("X-Amz-Target") != "" {
		return "", "", false
	}
	bucket, key, found := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if !found || bucket == "" || key == "" {
		return "", "", false
	}
	return bucket, key, true
}

// Close stops serving. The kumo backend and its state stay for the life of
// the process.
func (e *Emulator) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	if err != nil {
		// Long polls still open after the deadline are cut; their clients
		// are going away too.
		err = e.srv.Close()
	}
	<-e.done
	return err
}

// Listen opens a TCP listener on addr; a port that is taken yields an error
// wrapping ErrAddrInUse that names the address.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: %w", addr, ErrAddrInUse)
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// CheckFree reports, with ErrAddrInUse, whether addr is already taken. It
// lets a launcher refuse to start before any child fails half-way.
func CheckFree(addr string) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
// Another process may take it before it is used: prefer binding
// "127.0.0.1:0" and handing the listener on, or StartOnFreePort for a child.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
