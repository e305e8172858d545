package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/devops-exam/msgpipe/libs/requestid"
)

func TestLinesAreJSONWithServiceAndRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo, "api").With("component", "test")
	ctx := requestid.NewContext(context.Background(), "req-1")
	log.InfoContext(ctx, "hello", "n", 1)
	log.WithGroup("g").InfoContext(context.Background(), "no id", "k", "v")
	log.Debug("dropped below info")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "hello", "service": "api", "component": "test", "request_id": "req-1", "n": 1.0, "level": "INFO"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	var second map[string]any
	if err := json.Unmarshal(lines[1], &second); err != nil {
		t.Fatal(err)
	}
	if _, ok := second["request_id"]; ok {
		t.Errorf("request_id on a line without one in context: %s", lines[1])
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, " INFO ": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel accepted nonsense")
	}
}
