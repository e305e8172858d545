package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/requestid"
)

// fakePipeline is the API and the consumer in one handler, writing straight
// to the emulator's bucket, with switches for each way the real pipeline
// could break a promise the check verifies.
type fakePipeline struct {
	t      *testing.T
	token  string
	bucket string
	s3     *s3.Client

	status      int                   // forced status for the good message
	acceptAll   bool                  // 200 for wrong tokens and invalid payloads
	leakRefused bool                  // right status, but stores refused requests
	never       bool                  // accept but never store
	corrupt     func(*message.Stored) // alter what is stored
	delay       time.Duration         // consumer latency
	wg          sync.WaitGroup
}

func newFakePipeline(t *testing.T) (*fakePipeline, Config) {
	t.Helper()
	e, err := stack.StartEmulator("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	c := stack.NewClients(e.URL)
	var b [6]byte
	_, _ = rand.Read(b[:])
	names := stack.Names{Queue: "e2e-check-" + hex.EncodeToString(b[:]), Bucket: "e2e-check-" + hex.EncodeToString(b[:]), Parameter: "/e2e-check/" + hex.EncodeToString(b[:])}
	r, err := stack.Provision(t.Context(), c, names)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePipeline{t: t, token: r.Token, bucket: r.Bucket, s3: c.S3}
	srv := httptest.NewServer(requestid.Middleware(f))
	t.Cleanup(srv.Close)
	t.Cleanup(f.wg.Wait)
	return f, Config{
		APIURL: srv.URL, Token: r.Token, Bucket: r.Bucket, S3: c.S3,
		Timeout: 5 * time.Second, Poll: 20 * time.Millisecond, Progress: time.Second,
	}
}

func (f *fakePipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := message.ParseRequest(body)
	if err != nil {
		http.Error(w, `{"error":"malformed","details":[]}`, http.StatusBadRequest)
		return
	}
	refused := 0
	switch {
	case req.Token != f.token:
		refused = http.StatusUnauthorized
	case req.Validate() != nil:
		refused = http.StatusBadRequest
	}
	if refused != 0 && !f.acceptAll {
		if f.leakRefused {
			f.store(req.Data, requestid.FromContext(r.Context()))
		}
		w.WriteHeader(refused)
		fmt.Fprint(w, `{"error":"refused","details":[]}`)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, `{"error":"boom","details":[]}`)
		return
	}
	id := f.store(req.Data, requestid.FromContext(r.Context()))
	fmt.Fprintf(w, `{"status":"queued","message_id":%q}`, id)
}

func (f *fakePipeline) store(d message.Data, reqID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if f.never {
		return id
	}
	sent := time.Now().UTC()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		time.Sleep(f.delay) // stands in for the consumer's poll interval
		st := message.Stored{SchemaVersion: message.SchemaVersion, MessageID: id, RequestID: reqID, SentAt: sent, StoredAt: time.Now().UTC(), ReceiveCount: 1, Data: d}
		if f.corrupt != nil {
			f.corrupt(&st)
		}
		key, _ := message.ObjectKey(id, sent)
		body, _ := json.Marshal(st)
		if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			f.t.Errorf("fake consumer: %v", err)
		}
	}()
	return id
}

func (f *fakePipeline) exists(key string) bool {
	_, err := f.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	return err == nil
}

func runCheck(t *testing.T, cfg Config) (Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	cfg.Out = &out
	res, err := Run(t.Context(), cfg)
	return res, out.String(), err
}

func assertLinesInOrder(t *testing.T, out string, lines ...string) {
	t.Helper()
	rest := out
	for _, l := range lines {
		i := strings.Index(rest, l)
		if i < 0 {
			t.Fatalf("output lacks %q after the previous lines:\n%s", l, out)
		}
		rest = rest[i+len(l):]
	}
}

func TestRunPassesAndKeepsTheOriginalOutput(t *testing.T) {
	f, cfg := newFakePipeline(t)
	f.delay = 1200 * time.Millisecond
	res, out, err := runCheck(t, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	assertLinesInOrder(t, out,
		"[1/5] Sending message to Service 1 API...\n",
		"      Wrong token refused: 401\n",
		"      Invalid payload refused: 400\n",
		"      Response status: 200\n",
		"      Message ID: "+res.MessageID+"\n",
		"\n[2/5] Message sent successfully to SQS\n",
		"\n[3/5] Waiting for Service 2 to process message...\n",
		"      Waiting... (1s / 5s)\n",
		"\n[4/5] Message found in S3!\n",
		"      S3 Key: "+res.Key+"\n",
		"      Processing time: ~1.",
		"\n[5/5] Verifying S3 file content...\n",
		"      Content verified successfully!\n",
		"      Refused requests absent from S3 (1 object checked)\n",
		"\n[Cleanup] Deleting test file from S3...\n",
		"         Test file deleted\n",
		"\n============================================================\nE2E TEST PASSED\n============================================================\n",
		"Message traveled successfully:\n  API (Service 1) → SQS → Service 2 → S3\n",
		"Total processing time: ~",
		"\n============================================================\n",
	)
	if strings.Contains(out, "Waiting... (2s") {
		t.Errorf("progress printed beyond the wait:\n%s", out)
	}
	if want, _ := message.ObjectKey(res.MessageID, time.Now()); res.Key != want {
		t.Errorf("key %s, want %s", res.Key, want)
	}
	if f.exists(res.Key) {
		t.Error("test object not deleted")
	}
	if res.Processing < time.Second || res.Total < res.Processing {
		t.Errorf("durations: %+v", res)
	}
}

func TestRunFailures(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(*fakePipeline, *Config)
		step    string
		reason  string
		cleaned bool // the test object existed and must be gone
	}{
		{"wrong token accepted", func(f *fakePipeline, _ *Config) { f.acceptAll = true }, "step 1", "wrong token: got status 200, want 401", false},
		{"API fails", func(f *fakePipeline, _ *Config) { f.status = 503 }, "step 1", `got status 503, want 200: {"error":"boom"`, false},
		{"wrong API_TOKEN", func(_ *fakePipeline, c *Config) { c.Token = "stale" }, "step 1", "invalid payload: got status 401, want 400: {\"error\":\"refused\",\"details\":[]} (is API_TOKEN the value", false},
		{"API unreachable", func(_ *fakePipeline, c *Config) { c.APIURL = "http://127.0.0.1:1" }, "step 1", "wrong token: POST http://127.0.0.1:1/api/message", false},
		{"never stored", func(f *fakePipeline, c *Config) { f.never = true; c.Timeout = 1500 * time.Millisecond }, "step 3", "no object at messages/", false},
		{"content changed", func(f *fakePipeline, _ *Config) {
			f.corrupt = func(s *message.Stored) { s.Data.EmailContent += "!" }
		}, "step 5", "data.email_content is", true},
		{"refused request stored", func(f *fakePipeline, _ *Config) { f.leakRefused = true }, "step 5", "a refused request reached S3", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := newFakePipeline(t)
			tc.setup(f, &cfg)
			_, out, err := runCheck(t, cfg)
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("err = %v, want a *Failure\n%s", err, out)
			}
			if fl.Step != tc.step || !strings.Contains(fl.Reason.Error(), tc.reason) {
				t.Fatalf("failure = %v; want %s with %q\n%s", fl, tc.step, tc.reason, out)
			}
			if !strings.Contains(out, "\n"+fl.Error()+"\n") || !strings.HasPrefix(fl.Error(), "E2E TEST FAILED at "+tc.step+" (") {
				t.Errorf("output does not end with the failure line:\n%s", out)
			}
			if strings.Contains(out, "E2E TEST PASSED") {
				t.Errorf("a failed run says it passed:\n%s", out)
			}
			if tc.cleaned && !strings.Contains(out, "         Test file deleted\n") {
				t.Errorf("test object not cleaned up after a failure:\n%s", out)
			}
		})
	}
}

func TestRunPrintsProgressUntilTheTimeout(t *testing.T) {
	f, cfg := newFakePipeline(t)
	f.never = true
	cfg.Timeout, cfg.Progress = 2*time.Second, time.Second
	_, out, err := runCheck(t, cfg)
	if err == nil {
		t.Fatal("passed without an object")
	}
	assertLinesInOrder(t, out, "      Waiting... (1s / 2s)\n", "      Waiting... (2s / 2s)\n", "E2E TEST FAILED at step 3 (wait for Service 2): no object at ")
	if strings.Contains(out, "(3s / 2s)") {
		t.Errorf("progress past the timeout:\n%s", out)
	}
}

type fakeSQS struct{ err error }

func (f fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"ApproximateNumberOfMessages": "3", "ApproximateNumberOfMessagesNotVisible": "1"}}, nil
}

func TestRunReportsQueueDepthWhenItCan(t *testing.T) {
	_, cfg := newFakePipeline(t)
	cfg.QueueURL, cfg.SQS = "http://q", fakeSQS{}
	_, out, err := runCheck(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertLinesInOrder(t, out, "[2/5] Message sent successfully to SQS\n", "      Queue depth: 3 waiting, 1 in flight\n", "[3/5]")

	_, cfg = newFakePipeline(t)
	cfg.QueueURL, cfg.SQS = "http://q", fakeSQS{err: errors.New("AccessDenied")}
	_, out, err = runCheck(t, cfg)
	if err != nil {
		t.Fatalf("a missing sqs:GetQueueAttributes permission failed the run: %v", err)
	}
	assertLinesInOrder(t, out, "[2/5]", "      (queue depth unavailable: AccessDenied)\n", "[3/5]")
}

func TestRunRequiresItsInputs(t *testing.T) {
	_, err := Run(t.Context(), Config{APIURL: "http://x"})
	var fl *Failure
	if !errors.As(err, &fl) || fl.Step != "setup" {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyNamesEveryWrongField(t *testing.T) {
	sent := message.Data{EmailSubject: "s", EmailSender: "a@b.c", EmailTimestream: "t", EmailContent: "c"}
	at := time.Date(2024, 1, 15, 23, 59, 59, 0, time.UTC)
	good := message.Stored{SchemaVersion: message.SchemaVersion, MessageID: "id1", RequestID: "r1", SentAt: at, StoredAt: at.Add(time.Second), ReceiveCount: 1, Data: sent}
	key, _ := message.ObjectKey("id1", at)
	earliest, latest := at.Add(-time.Minute), at.Add(time.Minute)
	encode := func(s message.Stored) []byte { b, _ := json.Marshal(s); return b }
	if err := verify(encode(good), key, "id1", "r1", sent, earliest, latest); err != nil {
		t.Fatalf("good document refused: %v", err)
	}
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", []byte("nope"), "not a message.Stored document"},
		{"unknown field", []byte(`{"schema_version":1,"extra":true}`), `unknown field "extra"`},
		{"schema", encode(with(good, func(s *message.Stored) { s.SchemaVersion = 2 })), `schema_version is "2", want "1"`},
		{"id", encode(with(good, func(s *message.Stored) { s.MessageID = "other" })), `message_id is "other"`},
		{"request id", encode(with(good, func(s *message.Stored) { s.RequestID = "" })), `request_id is "", want "r1"`},
		{"subject", encode(with(good, func(s *message.Stored) { s.Data.EmailSubject = "x" })), "data.email_subject"},
		{"sender", encode(with(good, func(s *message.Stored) { s.Data.EmailSender = "x@y.z" })), "data.email_sender"},
		{"timestream", encode(with(good, func(s *message.Stored) { s.Data.EmailTimestream = "x" })), "data.email_timestream"},
		{"sent_at outside", encode(with(good, func(s *message.Stored) { s.SentAt = at.Add(-time.Hour) })), "outside the test's window"},
		{"key date", encode(with(good, func(s *message.Stored) { s.SentAt = at.Add(2 * time.Second); s.StoredAt = s.SentAt })), "messages/2024/01/16/id1.json"},
		{"stored before sent", encode(with(good, func(s *message.Stored) { s.StoredAt = at.Add(-time.Hour) })), "stored_at"},
		{"receive count", encode(with(good, func(s *message.Stored) { s.ReceiveCount = 0 })), "receive_count is 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(tc.body, key, "id1", "r1", sent, earliest, latest)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at step 5 (verify S3 content)") {
				t.Fatalf("verify = %v, want %q", err, tc.want)
			}
		})
	}
}

func with(s message.Stored, f func(*message.Stored)) message.Stored { f(&s); return s }

func TestCandidateKeysCoverMidnight(t *testing.T) {
	from := time.Date(2024, 1, 15, 23, 59, 59, 0, time.UTC)
	keys := candidateKeys("id", from, from.Add(2*time.Second))
	want := []string{"messages/2024/01/15/id.json", "messages/2024/01/16/id.json"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Millisecond: "0.040 seconds", 1500 * time.Millisecond: "1.5 seconds", 15 * time.Second: "15 seconds",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %q, want %q", d, got, want)
		}
	}
}

// The object shows up a moment after the 200, as it does from the real
// pipeline: the check looks again soon after, not a whole Poll later, so
// it reports the real processing time. With Poll set to an hour and a
// Timeout of 30 s, only looks that come sooner can find it.
func TestFirstLooksComeBeforePoll(t *testing.T) {
	f, cfg := newFakePipeline(t)
	f.delay = 30 * time.Millisecond
	cfg.Poll, cfg.Timeout, cfg.Progress = time.Hour, 30*time.Second, time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cfg.Out = &out
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatalf("check failed: %v\n%s", err, out.String())
	}
}
