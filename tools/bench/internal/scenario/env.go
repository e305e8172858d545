// Package scenario runs the benchmarks of docs/benchmarks.md through the
// real service binaries against the in-process emulator, optionally behind
// a proxy that adds AWS-like round trips: the api under concurrent load, and
// the consumer draining a preloaded queue.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/stack"
)

// Env is what every scenario runs on: the binaries and one emulator, whose
// object writes are tracked per bucket.
type Env struct {
	Binaries stack.Binaries
	Emulator *stack.Emulator
	// Logs receives the services' output (nil discards it).
	Logs io.Writer

	mu      sync.Mutex
	buckets map[string]*tracker
}

var seq atomic.Int64

// NewEnv starts the emulator.
func NewEnv(b stack.Binaries, logs io.Writer) (*Env, error) {
	e := &Env{Binaries: b, Logs: logs, buckets: map[string]*tracker{}}
	em, err := stack.StartEmulator("127.0.0.1:0", e.observe)
	if err != nil {
		return nil, err
	}
	e.Emulator = em
	return e, nil
}

// Close stops the emulator.
func (e *Env) Close() error { return e.Emulator.Close() }

// names returns resources no other run in this process uses.
func names(kind string) stack.Names {
	n := fmt.Sprintf("bench-%s-%d-%d", kind, os.Getpid(), seq.Add(1))
	return stack.Names{Queue: n, Bucket: n, Parameter: "/bench/" + n}
}

func (e *Env) observe(bucket, key string) {
	e.mu.Lock()
	t := e.buckets[bucket]
	e.mu.Unlock()
	if t != nil {
		t.put(key, time.Now())
	}
}

// track starts recording the objects written to bucket.
func (e *Env) track(bucket string) *tracker {
	t := &tracker{seen: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	e.mu.Lock()
	e.buckets[bucket] = t
	e.mu.Unlock()
	return t
}

// tracker records when each key was first written.
type tracker struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	changed chan struct{}
}

func (t *tracker) put(key string, at time.Time) {
	t.mu.Lock()
	if _, ok := t.seen[key]; !ok {
		t.seen[key] = at
	}
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// times returns the first-write times, in no order.
func (t *tracker) times() []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Time, 0, len(t.seen))
	for _, at := range t.seen {
		out = append(out, at)
	}
	return out
}

// waitFor blocks until n keys were written or the deadline passes.
func (t *tracker) waitFor(n int, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		t.mu.Lock()
		have := len(t.seen)
		t.mu.Unlock()
		if have >= n {
			return true
		}
		select {
		case <-t.changed:
		case <-timer.C:
			return false
		}
	}
}

// withEndpoint returns the services' extra environment: the endpoint to use
// (the latency proxy) and the caller's settings, which win.
func withEndpoint(endpoint string, extra map[string]string) map[string]string {
	env := map[string]string{"AWS_ENDPOINT_URL": endpoint}
	maps.Copy(env, extra)
	return env
}

// forget deletes a finished run's queues and objects. The emulator keeps
// everything in its own heap, on the cores being measured: left behind, a
// run's hundred thousand messages made every later run's emulator slower
// (its CPU per request rose by a quarter over four runs).
func forget(ctx context.Context, st *stack.Stack) error {
	c, r := st.Clients, st.Resources
	for _, q := range []string{r.QueueURL, r.DLQURL} {
		if _, err := c.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q)}); err != nil {
			return fmt.Errorf("delete queue %s: %w", q, err)
		}
	}
	pages := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: aws.String(r.Bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", r.Bucket, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]s3types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = s3types.ObjectIdentifier{Key: o.Key}
		}
		out, err := c.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(r.Bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err == nil && len(out.Errors) > 0 {
			err = errors.New(aws.ToString(out.Errors[0].Message))
		}
		if err != nil {
			return fmt.Errorf("empty %s: %w", r.Bucket, err)
		}
	}
	return nil
}

// stopAndForget ends a run: the services, then what it left in the
// emulator. A failure to clean up fails a run that had not failed already.
func stopAndForget(ctx context.Context, st *stack.Stack, err *error) {
	_ = st.Stop(10 * time.Second) // a run's result does not depend on how its services exit
	if ferr := forget(context.WithoutCancel(ctx), st); ferr != nil && *err == nil {
		*err = ferr
	}
}

// fewestHops routes a service to the emulator itself, with only object
// writes through the proxy whose PUT hook times them: that proxy is the
// harness's, not the pipeline's, and every hop through it costs CPU on the
// cores the services are measured on. The caller's settings win.
func (e *Env) fewestHops(extra map[string]string) map[string]string {
	env := map[string]string{"AWS_ENDPOINT_URL": e.Emulator.BackendURL, "AWS_ENDPOINT_URL_S3": e.Emulator.URL}
	maps.Copy(env, extra)
	return env
}

// ParseEnv turns "K=V" into a pair; the key must look like an environment
// variable.
func ParseEnv(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ToUpper(k) != k || strings.ContainsAny(k, " \t") {
		return "", "", fmt.Errorf("%q: want NAME=value", s)
	}
	return k, v, nil
}
