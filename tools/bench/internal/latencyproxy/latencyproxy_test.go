package latencyproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		method, path, target, want string
	}{
		{"POST", "/", "AmazonSQS.SendMessageBatch", "sqs:SendMessageBatch"},
		{"POST", "/", "AmazonSQS.ReceiveMessage", "sqs:ReceiveMessage"},
		{"POST", "/", "AmazonSSM.GetParameter", "ssm:GetParameter"},
		{"PUT", "/bucket/messages/2026/11/28/a.json", "", "s3:PutObject"},
		{"PUT", "/bucket", "", "s3:PUT"},
		{"GET", "/bucket/messages/a.json", "", "s3:GET"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if got := Classify(r); got != tc.want {
			t.Errorf("Classify(%s %s %q) = %q, want %q", tc.method, tc.path, tc.target, got, tc.want)
		}
	}
}

// The proxy forwards what it is given and holds each kind for its own
// delay.
func TestProxyForwardsAfterTheDelay(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	defer backend.Close()
	const sqsDelay = 30 * time.Millisecond
	p, err := Start(backend.URL, Delays{SQS: sqsDelay})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req, _ := http.NewRequest("POST", p.URL+"/bucket/key", strings.NewReader("x"))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "POST /bucket/key" {
		t.Errorf("forwarded body = %q", b)
	}
	// A lower bound only: the delay is the behaviour under test, and a
	// slow machine can only make it longer.
	if took := time.Since(start); took < sqsDelay {
		t.Errorf("SQS call took %s, want at least the %s delay", took, sqsDelay)
	}
}

func TestDelayByKind(t *testing.T) {
	p := &Proxy{delays: Delays{SQS: 1, S3Put: 2, Other: 3}}
	for kind, want := range map[string]time.Duration{"sqs:ReceiveMessage": 1, "s3:PutObject": 2, "s3:GET": 3, "ssm:GetParameter": 3} {
		if got := p.delay(kind); got != want {
			t.Errorf("delay(%q) = %d, want %d", kind, got, want)
		}
	}
}
