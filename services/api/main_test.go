package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/message"
)

type stack struct {
	url      string
	queueURL string
	param    string
	sqs      *sqs.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	env := kumotest.Start(t)
	env.UseFromEnvironment(t)
	return &stack{url: env.URL, queueURL: env.Queue(t, nil), param: env.Parameter(t, "tok-123"), sqs: env.SQS}
}

func (s *stack) env(extra map[string]string) libconfig.LookupFunc {
	m := map[string]string{
		"HTTP_ADDR":          "127.0.0.1:0",
		"SSM_PARAMETER_NAME": s.param,
		"SQS_QUEUE_URL":      s.queueURL,
		"SHUTDOWN_TIMEOUT":   "5s",
	}
	for k, v := range extra {
		m[k] = v
	}
	return libconfig.FromMap(m)
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

var startedLine = regexp.MustCompile(`"msg":"api started".*"addr":"([^"]+)","metrics_addr":"([^"]+)"`)

// start runs the service and returns its addresses once it is listening.
func start(t *testing.T, lookup libconfig.LookupFunc) (addr, metricsAddr string, stop func() int, logs *testkit.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &testkit.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, lookup, logs, logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := startedLine.FindStringSubmatch(logs.String()); m != nil {
			addr, metricsAddr = m[1], m[2]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run exited with %d before listening:\n%s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { stop() })
	return addr, metricsAddr, stop, logs
}

func TestRunPublishesAMessageToSQS(t *testing.T) {
	s := newStack(t)
	addr, metricsAddr, stop, logs := start(t, s.env(nil))
	if metricsAddr != addr {
		t.Fatalf("metrics on %s, want the main listener %s", metricsAddr, addr)
	}
	body := `{"data":{"email_subject":"Hello","email_sender":"a@b.c","email_timestream":"1693561101","email_content":"Hi"},"token":"tok-123"}`
	resp, err := http.Post("http://"+addr+"/api/message", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Status, MessageID string }
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &struct {
		Status    *string `json:"status"`
		MessageID *string `json:"message_id"`
	}{&got.Status, &got.MessageID}); err != nil || resp.StatusCode != 200 || got.Status != "queued" || got.MessageID == "" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}

	out, err := s.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("queue: %v, %d messages", err, len(out.Messages))
	}
	if id := aws.ToString(out.Messages[0].MessageAttributes[message.AttrMessageID].StringValue); id != got.MessageID || !uuidV7.MatchString(id) {
		t.Errorf("queued with message_id %q, API said %q (want a UUIDv7)", id, got.MessageID)
	}
	if d, err := message.DecodeData([]byte(aws.ToString(out.Messages[0].Body))); err != nil || d.EmailSubject != "Hello" {
		t.Errorf("queued body %+v, %v", d, err)
	}
	if strings.Contains(aws.ToString(out.Messages[0].Body), "tok-123") {
		t.Error("the token travelled to SQS")
	}

	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"msgpipe_api_messages_published_total 1", "msgpipe_api_token_cache_misses_total 1", "go_goroutines", "process_resident_memory_bytes",
		`msgpipe_api_aws_requests_total{operation="SendMessageBatch",service="SQS"} 1`,
		`msgpipe_api_aws_requests_total{operation="GetQueueAttributes",service="SQS"} 1`,
		`msgpipe_api_aws_requests_total{operation="GetParameter",service="SSM"} 1`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(logs.String(), "tok-123") {
		t.Errorf("token in logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"msg":"api stopped"`) {
		t.Errorf("no stop line:\n%s", logs)
	}
}

func TestRunServesMetricsOnASeparateListener(t *testing.T) {
	s := newStack(t)
	addr, metricsAddr, stop, _ := start(t, s.env(map[string]string{"METRICS_ADDR": "127.0.0.1:0"}))
	if metricsAddr == addr {
		t.Fatal("metrics on the main listener")
	}
	for _, c := range []struct {
		url  string
		code int
	}{{"http://" + addr + "/metrics", 404}, {"http://" + metricsAddr + "/metrics", 200}, {"http://" + addr + "/health", 200}} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.url, resp.StatusCode, c.code)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestRunRejectsBadConfigurationWithStatus2(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), libconfig.FromMap(map[string]string{"TOKEN_CACHE_TTL": "x"}), io.Discard, &stderr)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"SSM_PARAMETER_NAME is required", "SQS_QUEUE_URL is required", "TOKEN_CACHE_TTL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestRunFailsClearlyWhenThePortIsTaken(t *testing.T) {
	s := newStack(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	code := run(context.Background(), s.env(map[string]string{"HTTP_ADDR": ln.Addr().String()}), &out, &out)
	if code != 1 || !strings.Contains(out.String(), fmt.Sprintf("listen on %s", ln.Addr())) || !strings.Contains(out.String(), "address already in use") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestRunRefusesAFIFOQueueWithStatus2(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), libconfig.FromMap(map[string]string{
		"SSM_PARAMETER_NAME": "/p", "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo",
	}), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "FIFO") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

func TestRunFailsClearlyWhenTheQueueCannotBeRead(t *testing.T) {
	s := newStack(t)
	var out bytes.Buffer
	code := run(context.Background(), s.env(map[string]string{"SQS_QUEUE_URL": s.queueURL + "-missing"}), &out, &out)
	if code != 1 || !strings.Contains(out.String(), "MaximumMessageSize") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}
