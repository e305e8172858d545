// Package httpserver runs an http.Server the way both services need it: hard
// limits on every phase of a request, and a graceful stop when ECS sends
// SIGTERM so in-flight requests finish before the task goes away.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits applied to every server. WriteTimeout leaves room for an SSM
// lookup plus an SQS publish, each bounded by the SDK's own retries.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// New returns a server for h with the limits above; its own error log goes
// to logger so that TLS and protocol errors are JSON like everything else.
func New(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Listen opens addr, naming the address in the error so that "port already
// in use" is obvious at start-up.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then stops accepting and waits up to
// drain for in-flight requests. Connections still open after that are cut.
// It returns nil after a clean stop.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("drain %s: %w", ln.Addr(), err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error   string `json:"error"`
	Details []any  `json:"details"`
}

// WriteJSON writes v as the response body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSONBody writes body, already JSON, with status and the same headers
// as WriteJSON.
func WriteJSONBody(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// The header values are shared, not built per response: net/http only
// reads them, and Header.Add would copy before appending (len == cap).
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
}

// WriteError writes {"error": msg, "details": details} with status; details
// is never null so clients can always iterate it.
func WriteError(w http.ResponseWriter, status int, msg string, details ...any) {
	if details == nil {
		details = []any{}
	}
	WriteJSON(w, status, ErrorBody{Error: msg, Details: details})
}

// Health answers the load balancer's liveness probe without touching any
// dependency: a slow SSM must not take healthy tasks out of service.
func Health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
