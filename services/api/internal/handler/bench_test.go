package handler

import (
	"context"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/metrics"
)

type discardPublisher struct{}

func (discardPublisher) Publish(_ context.Context, _ message.Data, _ string) (string, error) {
	return "msg-0001", nil
}

// BenchmarkPostMessage measures the API's own cost per accepted message:
// routing, request id, metrics, body read, parse, token check and
// validation. SQS and SSM are fakes, so their latency is not in the figure.
func BenchmarkPostMessage(b *testing.B) {
	reg := metrics.NewRegistry()
	h := New(Options{
		Tokens:       &fakeTokens{},
		Publisher:    discardPublisher{},
		MaxBodyBytes: 256 << 10,
		Logger:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		HTTP:         metrics.NewHTTP(reg, "bench"),
	})
	payload := body(goodData, goodToken)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/message", strings.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
