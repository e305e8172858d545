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

// The proxy forwards what it is given, holds each kind for its own delay
// and counts calls by kind.
func TestProxyDelaysAndCounts(t *testing.T) {
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

	call := func(method, target string) (string, time.Duration) {
		req, _ := http.NewRequest(method, p.URL+"/bucket/key", strings.NewReader("x"))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), time.Since(start)
	}
	body, took := call("POST", "AmazonSQS.SendMessage")
	if body != "POST /bucket/key" {
		t.Errorf("forwarded body = %q", body)
	}
	// A lower bound only: the delay is the behaviour under test, and a
	// slow machine can only make it longer.
	if took < sqsDelay {
		t.Errorf("SQS call took %s, want at least the %s delay", took, sqsDelay)
	}
	call("PUT", "")
	call("PUT", "")
	got := p.Counts()
	if got["sqs:SendMessage"] != 1 || got["s3:PutObject"] != 2 {
		t.Errorf("counts = %v", got)
	}
	rates := Per1000(got, "s3:", 4)
	if len(rates) != 1 || rates[0].Per1000 != 500 {
		t.Errorf("Per1000 = %+v, want s3:PutObject at 500", rates)
	}
	p.Reset()
	if n := len(p.Counts()); n != 0 {
		t.Errorf("after Reset, %d kinds counted", n)
	}
}
