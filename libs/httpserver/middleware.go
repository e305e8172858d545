package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// StatusWriter remembers the status code a handler wrote, for logging and
// metrics middleware.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	wrote  bool
}

// NewStatusWriter wraps w; Status is 200 until the handler says otherwise,
// as net/http assumes.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader records the first status code and passes it on.
func (s *StatusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.Status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// maxLoggedPath keeps a scanner's absurd URLs from bloating log lines.
const maxLoggedPath = 256

// AccessLog writes one line per request with method, path, status and
// duration, and whatever the handler added with AddLogAttrs. It never logs
// bodies or headers, where tokens travel.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		extra := &logAttrs{}
		r = r.WithContext(context.WithValue(r.Context(), logAttrsKey{}, extra))
		next.ServeHTTP(sw, r)
		path := r.URL.Path
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath] + "…"
		}
		attrs := append(make([]slog.Attr, 0, 4+len(extra.attrs)),
			slog.String("method", r.Method), slog.String("path", path), slog.Int("status", sw.Status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", append(attrs, extra.attrs...)...)
	})
}

// logAttrs is what a handler adds to its request's access log line.
type logAttrs struct{ attrs []slog.Attr }

type logAttrsKey struct{}

// AddLogAttrs adds attrs to the access log line of the request ctx belongs
// to, so that one line tells what became of a request (its message_id, say)
// instead of a second line per request. Outside AccessLog it does nothing.
// A handler calls it from the request's own goroutine.
func AddLogAttrs(ctx context.Context, attrs ...slog.Attr) {
	if la, ok := ctx.Value(logAttrsKey{}).(*logAttrs); ok {
		la.attrs = append(la.attrs, attrs...)
	}
}
