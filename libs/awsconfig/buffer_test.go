package awsconfig

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/kumotest"
)

// racyTransport sends each request to the emulator the way net/http does
// when it does not know the body is in memory, with the race of
// aws-sdk-go-v2 issue #2737 made certain: the body's bytes go out, the
// server answers, and net/http's final read of the body (io.Copy to
// io.Discard after the Content-Length bytes) runs only once the caller has
// started reading the response, by which time the SDK has closed the
// request body. If that read fails, net/http closes the connection, and
// the rest of the response body is lost as "use of closed network
// connection". The transport stalls the write side; it never sleeps.
type racyTransport struct {
	next     http.RoundTripper
	attempts atomic.Int32
}

func (t *racyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.attempts.Add(1)
	sent, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength))
	if err != nil {
		return nil, err
	}
	fwd := req.Clone(req.Context())
	fwd.Body = io.NopCloser(bytes.NewReader(sent))
	fwd.GetBody = nil
	resp, err := t.next.RoundTrip(fwd)
	if err != nil {
		return nil, err
	}
	payload, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	b := &stalledBody{head: payload[:len(payload)/2], rest: payload[len(payload)/2:], wrote: make(chan error, 1)}
	b.finishWrite = func() {
		_, err := io.Copy(io.Discard, req.Body) // net/http's final read
		b.wrote <- err
	}
	resp.Body = b
	return resp, nil
}

// stalledBody serves the first half of a response at once and the rest
// only after the write side has finished, as the data beyond net/http's
// read buffer would be.
type stalledBody struct {
	once        sync.Once
	finishWrite func()
	head, rest  []byte
	wrote       chan error
	writeErr    error
	waited      bool
}

func (b *stalledBody) Read(p []byte) (int, error) {
	b.once.Do(func() { go b.finishWrite() })
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if !b.waited {
		select {
		case b.writeErr = <-b.wrote:
		case <-time.After(10 * time.Second):
			b.writeErr = errors.New("write side never finished")
		}
		b.waited = true
	}
	if b.writeErr != nil {
		return 0, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
	}
	if len(b.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

func (b *stalledBody) Close() error { return nil }

// Without in-memory bodies every call through racyTransport loses its
// response and the SDK retries it; with them, each call is sent once.
func TestRequestBodiesAreSentFromMemorySoNoResponseIsLost(t *testing.T) {
	useEmulator(t)
	env := kumotest.Start(t)
	queueURL := env.Queue(t, nil)
	rt := &racyTransport{next: http.DefaultTransport}
	var logs bytes.Buffer
	cfg, err := Load(context.Background(), "us-east-1", withTransport(rt),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	client := NewSQS(cfg)
	ctx := context.Background()
	for i := range 3 {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(strings.Repeat("m", 5000))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 3 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	if got := rt.attempts.Load(); got != 4 {
		t.Fatalf("4 calls took %d HTTP requests: the SDK retried after a lost response\n%s", got, logs.String())
	}
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retries logged:\n%s", logs.String())
	}
}

type recordingClient struct {
	got     *http.Request
	body    []byte
	rereads []byte
}

func (r *recordingClient) Do(req *http.Request) (*http.Response, error) {
	r.got = req
	if req.Body != nil {
		r.body, _ = io.ReadAll(req.Body)
	}
	if req.GetBody != nil {
		b, _ := req.GetBody()
		r.rereads, _ = io.ReadAll(b)
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestBufferingClientBodies(t *testing.T) {
	post := func(body io.Reader, length int64) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(body)) // hides the type, as the SDK does
		req.ContentLength = length
		return req
	}
	for _, tc := range []struct {
		name      string
		req       *http.Request
		inMemory  bool
		wantBody  string
		wantError string
	}{
		{"known length", post(strings.NewReader("hello"), 5), true, "hello", ""},
		{"unknown length", post(strings.NewReader("hello"), -1), true, "hello", ""},
		{"empty", post(strings.NewReader(""), 0), false, "", ""},
		{"over the limit, announced", post(strings.NewReader(strings.Repeat("x", 20)), 20), false, strings.Repeat("x", 20), ""},
		{"over the limit, unannounced", post(strings.NewReader(strings.Repeat("x", 20)), -1), false, strings.Repeat("x", 20), ""},
		{"shorter than announced", post(strings.NewReader("hi"), 5), false, "", "2 bytes, 5 announced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingClient{}
			_, err := (&bufferingClient{next: rec, max: 10}).Do(tc.req)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.body) != tc.wantBody {
				t.Errorf("sent %q", rec.body)
			}
			if tc.inMemory {
				if rec.got.GetBody == nil || string(rec.rereads) != tc.wantBody || rec.got.ContentLength != int64(len(tc.wantBody)) {
					t.Errorf("GetBody/ContentLength not set: %v %q %d", rec.got.GetBody != nil, rec.rereads, rec.got.ContentLength)
				}
				if rec.got == tc.req {
					t.Error("the caller's request was modified")
				}
			}
		})
	}
	rec := &recordingClient{}
	get, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if _, err := (&bufferingClient{next: rec, max: 10}).Do(get); err != nil || rec.got != get {
		t.Fatalf("a request without a body is passed on as it is: %v", err)
	}
}
