package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAccessLogRecordsStatusButNotSecrets(t *testing.T) {
	var buf bytes.Buffer
	h := AccessLog(slog.New(slog.NewJSONHandler(&buf, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusTeapot) // ignored: the first status counts
	}))
	req := httptest.NewRequest(http.MethodPost, "/"+strings.Repeat("p", 300), strings.NewReader(`{"token":"s3cret"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	h.ServeHTTP(httptest.NewRecorder(), req)

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line["status"] != float64(http.StatusAccepted) || line["method"] != "POST" {
		t.Errorf("line %v", line)
	}
	if p, _ := line["path"].(string); len(p) > maxLoggedPath+len("…") {
		t.Errorf("path not truncated: %d bytes", len(p))
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Errorf("secret logged: %s", buf.String())
	}
}

func TestAccessLogCarriesWhatTheHandlerAdds(t *testing.T) {
	var buf bytes.Buffer
	h := AccessLog(slog.New(slog.NewJSONHandler(&buf, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddLogAttrs(r.Context(), slog.String("message_id", "m-1"))
		AddLogAttrs(r.Context(), slog.Int("entries", 2))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/message", nil))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line per request, got %d: %s", len(lines), buf.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	if line["msg"] != "request" || line["message_id"] != "m-1" || line["entries"] != float64(2) || line["status"] != float64(http.StatusOK) {
		t.Errorf("line %v", line)
	}
}

func TestAddLogAttrsOutsideAccessLogDoesNothing(t *testing.T) {
	AddLogAttrs(context.Background(), slog.String("k", "v")) // must not panic
}

func TestStatusWriterDefaultsToOKAndUnwraps(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := NewStatusWriter(rec)
	_, _ = sw.Write([]byte("x"))
	if sw.Status != http.StatusOK || sw.Unwrap() != rec {
		t.Fatalf("status %d", sw.Status)
	}
}
