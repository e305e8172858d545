package httpserver

import (
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
// duration. It never logs bodies or headers, where tokens travel.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		path := r.URL.Path
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath] + "…"
		}
		log.InfoContext(r.Context(), "request",
			"method", r.Method, "path", path, "status", sw.Status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}
