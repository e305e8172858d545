package scenario

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/tools/bench/internal/latencyproxy"
)

var env *Env

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, cleanup, err := stack.FindOrBuildTemp(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scenario: service binaries: %v\n", err)
		return 1
	}
	defer cleanup()
	if env, err = NewEnv(bins, nil); err != nil {
		fmt.Fprintf(os.Stderr, "scenario: emulator: %v\n", err)
		return 1
	}
	defer env.Close()
	return m.Run()
}

// A small api run through the real binary: every request accepted, each
// through SQS, and the figures filled in.
func TestAPI(t *testing.T) {
	r, err := API(t.Context(), env, APIConfig{Clients: 4, Duration: time.Minute, MaxRequests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 200 || r.Accepted != 200 || r.Refused != 0 || r.Failures != 0 {
		t.Fatalf("requests %d, accepted %d, refused %d, failures %d; want all 200 accepted", r.Requests, r.Accepted, r.Refused, r.Failures)
	}
	if r.RPS <= 0 || r.P99Ms < r.P50Ms || r.P50Ms <= 0 {
		t.Errorf("rps %.1f, p50 %.2f ms, p99 %.2f ms", r.RPS, r.P50Ms, r.P99Ms)
	}
	sends := 0.0
	for _, k := range r.SQSPer1000 {
		if k.Operation == "SendMessage" || k.Operation == "SendMessageBatch" {
			sends += k.Per1000
		}
	}
	if sends == 0 {
		t.Errorf("no SQS sends counted: %+v", r.SQSPer1000)
	}
}

// Two small drains through the real consumer behind the latency proxy:
// every message stored, none stalled, the calls counted.
func TestDrain(t *testing.T) {
	r, err := Drain(t.Context(), env, DrainConfig{
		Messages: 60, Runs: 2, Delays: latencyproxy.Delays{SQS: time.Millisecond, S3Put: 2 * time.Millisecond},
		Env: map[string]string{"WORKER_CONCURRENCY": "8"}, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.MsgsPerSec <= 0 || r.WorstMsgsPerSec > r.MsgsPerSec || r.SlowestSeconds <= 0 {
		t.Errorf("result %+v", r)
	}
	var receives float64
	for _, k := range r.SQSPer1000 {
		if k.Operation == "ReceiveMessage" {
			receives = k.Per1000
		}
	}
	if receives == 0 {
		t.Errorf("no receives counted: %+v", r.SQSPer1000)
	}
}

// Without injected latency the consumer reaches SQS directly and only its
// object writes pass the proxy that times them: every object is still seen.
func TestDrainOnLoopback(t *testing.T) {
	r, err := Drain(t.Context(), env, DrainConfig{Messages: 30, Runs: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.MsgsPerSec <= 0 || r.StalledRuns != 0 {
		t.Errorf("result %+v", r)
	}
}

// A few messages one at a time: each is found stored, and the times add up.
// The object may be stored before the client has read the 200, so only the
// whole trip is sure to be longer than the part after the answer.
func TestLatency(t *testing.T) {
	r, err := Latency(t.Context(), env, LatencyConfig{Messages: 5, Pause: time.Millisecond, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 5 || r.APIP50Ms <= 0 || r.P50Ms <= 0 || r.P50Ms <= r.AfterOKP50Ms || r.P99Ms < r.P50Ms {
		t.Errorf("result %+v", r)
	}
}

// A finished run leaves nothing in the emulator to slow the next one.
func TestForgetEmptiesTheEmulator(t *testing.T) {
	ctx := t.Context()
	st, err := stack.Start(ctx, stack.Options{Emulator: env.Emulator, Names: names("forget"), Binaries: env.Binaries, DeferConsumer: true})
	if err != nil {
		t.Fatal(err)
	}
	r := st.Resources
	if err := preload(ctx, st.Clients.SQS, r.QueueURL, 12); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"messages/a.json", "messages/b.json"} {
		if _, err := st.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(k), Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	var runErr error
	stopAndForget(ctx, st, &runErr)
	if runErr != nil {
		t.Fatal(runErr)
	}
	for _, q := range []string{r.QueueURL, r.DLQURL} {
		if _, err := st.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q)}); err == nil {
			t.Errorf("queue %s is still there", q)
		}
	}
	out, err := st.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(r.Bucket)})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("bucket %s: %d objects left (%v)", r.Bucket, len(out.Contents), err)
	}
}

func TestParseEnv(t *testing.T) {
	if k, v, err := ParseEnv("WORKER_CONCURRENCY=10,20"); err != nil || k != "WORKER_CONCURRENCY" || v != "10,20" {
		t.Errorf("ParseEnv = %q, %q, %v", k, v, err)
	}
	for _, bad := range []string{"x=1", "X", "=1", "A B=1"} {
		if _, _, err := ParseEnv(bad); err == nil {
			t.Errorf("ParseEnv(%q) accepted", bad)
		}
	}
}
