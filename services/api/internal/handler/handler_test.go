package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/libs/httpserver"
	"github.com/devops-exam/msgpipe/libs/logging"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/metrics"
	"github.com/devops-exam/msgpipe/libs/requestid"
	"github.com/devops-exam/msgpipe/services/api/internal/publish"
	"github.com/devops-exam/msgpipe/services/api/internal/token"
)

const goodToken = "s3cret-token"

type fakeTokens struct {
	err   error
	calls int
}

func (f *fakeTokens) Check(_ context.Context, presented string) (bool, error) {
	f.calls++
	if f.err != nil {
		return false, f.err
	}
	return presented == goodToken, nil
}

type fakePublisher struct {
	err       error
	published []message.Data
	requestID string
}

func (f *fakePublisher) Publish(_ context.Context, d message.Data, requestID string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.published = append(f.published, d)
	f.requestID = requestID
	return "msg-0001", nil
}

type env struct {
	tokens *fakeTokens
	pub    *fakePublisher
	logs   *bytes.Buffer
	h      http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{tokens: &fakeTokens{}, pub: &fakePublisher{}, logs: &bytes.Buffer{}}
	reg := metrics.NewRegistry()
	e.h = New(Options{
		Tokens:       e.tokens,
		Publisher:    e.pub,
		MaxBodyBytes: 4096,
		Logger:       logging.New(e.logs, slog.LevelInfo, "api"),
		Metrics:      metrics.Handler(reg),
		HTTP:         metrics.NewHTTP(reg, "msgpipe_api"),
	})
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), goodToken) || strings.Contains(e.logs.String(), "wrong-token") {
			t.Errorf("a token reached the logs:\n%s", e.logs)
		}
	})
	return e
}

func (e *env) do(method, path, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

type errorBody struct {
	Error   string               `json:"error"`
	Details []message.FieldError `json:"details"`
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var b errorBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("error body is not {error, details}: %v", err)
	}
	if b.Details == nil {
		t.Fatal("details is null; clients expect an array")
	}
	return b
}

func body(data, tok string) string {
	return `{"data":` + data + `,"token":"` + tok + `"}`
}

const goodData = `{"email_subject":"Hello","email_sender":"ann@example.com","email_timestream":"1693561101","email_content":"Hi there"}`

func TestPostMessageQueuesAValidMessage(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodPost, "/api/message", strings.NewReader(body(goodData, goodToken)))
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set(requestid.Header, "trace-abc")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got QueuedResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != (QueuedResponse{Status: "queued", MessageID: "msg-0001"}) {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if rec.Header().Get(requestid.Header) != "trace-abc" || e.pub.requestID != "trace-abc" {
		t.Errorf("request id: echoed %q, published %q", rec.Header().Get(requestid.Header), e.pub.requestID)
	}
	want := message.Data{EmailSubject: "Hello", EmailSender: "ann@example.com", EmailTimestream: "1693561101", EmailContent: "Hi there"}
	if len(e.pub.published) != 1 || e.pub.published[0] != want {
		t.Fatalf("published %+v", e.pub.published)
	}
	// One line per accepted message: the access log line, with both ids.
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"request"`) ||
		!strings.Contains(lines[0], `"request_id":"trace-abc"`) || !strings.Contains(lines[0], `"message_id":"msg-0001"`) {
		t.Errorf("want one access log line with both ids, got:\n%s", e.logs)
	}
}

// writeQueued skips reflection on the hot path; what it writes must be
// exactly what the general path writes, for any id.
func TestWriteQueuedMatchesWriteJSON(t *testing.T) {
	for _, id := range []string{"0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "msg-0001", `q"uote`, "back\\slash", "<tag>&", "ctl\x01", "é", ""} {
		fast, general := httptest.NewRecorder(), httptest.NewRecorder()
		writeQueued(fast, id)
		httpserver.WriteJSON(general, http.StatusOK, QueuedResponse{Status: "queued", MessageID: id})
		if fast.Body.String() != general.Body.String() || fast.Code != general.Code ||
			!reflect.DeepEqual(fast.Header(), general.Header()) {
			t.Errorf("id %q: fast %d %v %q, general %d %v %q", id, fast.Code, fast.Header(), fast.Body, general.Code, general.Header(), general.Body)
		}
	}
}

// Each bad input, the status a client sees and the error it reads. None is
// published.
func TestBadInputs(t *testing.T) {
	big := strings.Repeat("x", 5000)
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		err         string
		fields      []string
	}{
		{"malformed JSON", "POST", "/api/message", "application/json", `{"data":`, 400, "malformed JSON", []string{"body"}},
		{"empty body", "POST", "/api/message", "application/json", ``, 400, "malformed JSON", []string{"body"}},
		{"trailing data", "POST", "/api/message", "application/json", body(goodData, goodToken) + `{}`, 400, "malformed JSON", []string{"body"}},
		{"JSON array", "POST", "/api/message", "application/json", `[]`, 400, "malformed JSON", []string{"body"}},
		{"missing field", "POST", "/api/message", "application/json", body(`{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t"}`, goodToken), 400, "invalid payload", []string{"data.email_content"}},
		{"every field bad", "POST", "/api/message", "application/json", body(`{"email_subject":" ","email_sender":"nope","email_timestream":"","email_content":"a\u0000"}`, goodToken), 400, "invalid payload",
			[]string{"data.email_subject", "data.email_sender", "data.email_timestream", "data.email_content"}},
		{"field of wrong type", "POST", "/api/message", "application/json", body(`{"email_subject":1,"email_sender":"a@b.c","email_timestream":"t","email_content":"c"}`, goodToken), 400, "invalid payload", []string{"data.email_subject"}},
		{"every problem at once", "POST", "/api/message", "application/json", `{"data":{"email_subject":"","email_sender":"x","bcc":1},"token":"` + goodToken + `"}`, 400, "invalid payload",
			[]string{"data.bcc", "data.email_timestream", "data.email_content", "data.email_subject", "data.email_sender"}},
		{"unknown fields", "POST", "/api/message", "application/json", `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c","bcc":"x"},"token":"` + goodToken + `","extra":1}`, 400, "invalid payload", []string{"data.bcc", "extra"}},
		{"missing data", "POST", "/api/message", "application/json", `{"token":"` + goodToken + `"}`, 400, "invalid payload", []string{"data"}},
		{"missing token", "POST", "/api/message", "application/json", `{"data":` + goodData + `}`, 401, "missing or invalid token", nil},
		{"empty token", "POST", "/api/message", "application/json", body(goodData, ""), 401, "missing or invalid token", nil},
		{"wrong token", "POST", "/api/message", "application/json", body(goodData, "wrong-token"), 401, "missing or invalid token", nil},
		{"wrong token and bad payload", "POST", "/api/message", "application/json", body(`{}`, "wrong-token"), 401, "missing or invalid token", nil},
		{"token of wrong type", "POST", "/api/message", "application/json", `{"data":` + goodData + `,"token":42}`, 401, "missing or invalid token", nil},
		{"body too large", "POST", "/api/message", "application/json", body(`{"email_subject":"`+big+`"}`, goodToken), 413, "request body too large", []string{"body"}},
		{"form content type", "POST", "/api/message", "application/x-www-form-urlencoded", body(goodData, goodToken), 415, "unsupported media type", []string{"Content-Type"}},
		{"no content type", "POST", "/api/message", "", body(goodData, goodToken), 415, "unsupported media type", []string{"Content-Type"}},
		{"latin-1 charset", "POST", "/api/message", "application/json; charset=latin1", body(goodData, goodToken), 415, "unsupported media type", []string{"Content-Type"}},
		{"garbled content type", "POST", "/api/message", "application/json; ;;", body(goodData, goodToken), 415, "unsupported media type", []string{"Content-Type"}},
		{"GET on message", "GET", "/api/message", "", "", 405, "method not allowed", nil},
		{"DELETE on health", "DELETE", "/health", "", "", 405, "method not allowed", nil},
		{"unknown route", "GET", "/admin", "", "", 404, "not found", nil},
		// httprouter's defaults would answer these with an empty 200 or 307.
		{"OPTIONS on message", "OPTIONS", "/api/message", "", "", 405, "method not allowed", nil},
		{"OPTIONS on health", "OPTIONS", "/health", "", "", 405, "method not allowed", nil},
		{"trailing slash", "POST", "/api/message/", "application/json", body(goodData, goodToken), 404, "not found", nil},
		{"wrong case", "POST", "/API/Message", "application/json", body(goodData, goodToken), 404, "not found", nil},
		{"doubled slash", "POST", "//api/message", "application/json", body(goodData, goodToken), 404, "not found", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(tc.method, tc.path, tc.contentType, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			b := decodeError(t, rec)
			if b.Error != tc.err {
				t.Errorf("error %q, want %q", b.Error, tc.err)
			}
			var fields []string
			for _, d := range b.Details {
				fields = append(fields, d.Field)
				if d.Message == "" {
					t.Errorf("detail for %s has no message", d.Field)
				}
			}
			if strings.Join(fields, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("details name %v, want %v", fields, tc.fields)
			}
			if len(e.pub.published) != 0 {
				t.Errorf("published %d messages", len(e.pub.published))
			}
			if tc.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestMissingAndWrongTokenLookTheSame(t *testing.T) {
	e := newEnv(t)
	missing := e.do("POST", "/api/message", "application/json", `{"data":`+goodData+`}`)
	wrong := e.do("POST", "/api/message", "application/json", body(goodData, "wrong-token"))
	if missing.Code != wrong.Code || missing.Body.String() != wrong.Body.String() {
		t.Fatalf("missing: %d %s\nwrong: %d %s", missing.Code, missing.Body, wrong.Code, wrong.Body)
	}
}

func TestDependencyOutagesAre503(t *testing.T) {
	e := newEnv(t)
	e.tokens.err = errors.New("wrapped: " + token.ErrUnavailable.Error())
	rec := e.do("POST", "/api/message", "application/json", body(goodData, goodToken))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("token outage: %d %s", rec.Code, rec.Body)
	}
	if b := decodeError(t, rec); !strings.Contains(b.Error, "authentication unavailable") {
		t.Errorf("error %q", b.Error)
	}

	e = newEnv(t)
	e.pub.err = errors.New("send message: connection refused")
	rec = e.do("POST", "/api/message", "application/json", body(goodData, goodToken))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("SQS outage: %d %s", rec.Code, rec.Body)
	}
	if b := decodeError(t, rec); !strings.Contains(b.Error, "message queue unavailable") {
		t.Errorf("error %q", b.Error)
	}
}

// When SQS refuses the message itself, a retry cannot help: the client
// gets 400 or 413, never 503.
func TestQueueRefusalsAreClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		text   string
	}{
		{"content", fmt.Errorf("publish: %w", &publish.RefusedError{Code: "InvalidMessageContents", Reason: "invalid characters"}), 400, "invalid payload"},
		{"size", fmt.Errorf("publish: %w", &publish.RefusedError{Code: "MessageTooLong", TooLarge: true, Reason: "over the queue's limit of 1024 bytes"}), 413, "message too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.pub.err = tc.err
			rec := e.do("POST", "/api/message", "application/json", body(goodData, goodToken))
			if rec.Code != tc.status || rec.Header().Get("Retry-After") != "" {
				t.Fatalf("%d (Retry-After %q): %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			b := decodeError(t, rec)
			if b.Error != tc.text || len(b.Details) != 1 || b.Details[0].Field != "data" || b.Details[0].Message == "" {
				t.Errorf("body %+v", b)
			}
		})
	}
}

func TestMalformedBodiesCostNoTokenCheck(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/api/message", "application/json", `{`)
	e.do("POST", "/api/message", "text/plain", body(goodData, goodToken))
	if e.tokens.calls != 0 {
		t.Fatalf("token checks = %d", e.tokens.calls)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/health", "", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("health: %d %s", rec.Code, rec.Body)
	}
	e.do("POST", "/api/message", "application/json", body(goodData, goodToken))
	e.do("GET", "/nope", "", "")
	rec = e.do("GET", "/metrics", "", "")
	text, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`msgpipe_api_http_requests_total{code="200",method="GET",route="health"} 1`,
		`msgpipe_api_http_requests_total{code="200",method="POST",route="message"} 1`,
		`msgpipe_api_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`msgpipe_api_http_request_duration_seconds_count{route="message"} 1`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(text), "/nope") {
		t.Error("a raw path became a label")
	}
}

// Requests the router once answered itself, before any instrumentation,
// are counted like every other.
func TestRouterAnswersAreCounted(t *testing.T) {
	e := newEnv(t)
	e.do("OPTIONS", "/api/message", "", "")
	e.do("POST", "/api/message/", "application/json", body(goodData, goodToken))
	e.do("POST", "/API/Message", "application/json", body(goodData, goodToken))
	text, _ := io.ReadAll(e.do("GET", "/metrics", "", "").Body)
	for _, want := range []string{
		`msgpipe_api_http_requests_total{code="405",method="OPTIONS",route="unmatched"} 1`,
		`msgpipe_api_http_requests_total{code="404",method="POST",route="unmatched"} 2`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(text), "/API") {
		t.Error("a raw path became a label")
	}
}

func TestMetricsCanMoveOffTheMainListener(t *testing.T) {
	h := New(Options{Tokens: &fakeTokens{}, Publisher: &fakePublisher{}, MaxBodyBytes: 1024, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without Metrics: %d", rec.Code)
	}
}

type panicky struct{}

func (panicky) Check(context.Context, string) (bool, error) { panic("boom") }

func TestPanicsBecomeA500NotACrash(t *testing.T) {
	var logs bytes.Buffer
	h := New(Options{Tokens: panicky{}, Publisher: &fakePublisher{}, MaxBodyBytes: 1024, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/message", strings.NewReader(body(goodData, goodToken)))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.Contains(logs.String(), "panic") {
		t.Fatalf("%d %s", rec.Code, logs.String())
	}
}
