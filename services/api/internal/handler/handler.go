// Package handler is the API's HTTP surface: routing, the message endpoint,
// and the mapping of every failure to a JSON error with the right status.
package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/libs/httpserver"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/metrics"
	"github.com/devops-exam/msgpipe/libs/requestid"
	"github.com/devops-exam/msgpipe/services/api/internal/publish"
)

// TokenChecker decides whether a presented token is valid. An error means
// it cannot tell, and the request is refused with 503.
type TokenChecker interface {
	Check(ctx context.Context, presented string) (bool, error)
}

// Publisher puts a valid message on the queue and returns the id it gave
// it. A *publish.RefusedError means the queue refuses the message itself.
type Publisher interface {
	Publish(ctx context.Context, d message.Data, requestID string) (string, error)
}

// Options wire the handler to its dependencies.
type Options struct {
	Tokens       TokenChecker
	Publisher    Publisher
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Metrics, when set, is served at GET /metrics on this handler; leave
	// it nil when METRICS_ADDR moves /metrics to an internal listener.
	Metrics http.Handler
	HTTP    *metrics.HTTP
}

// Route names: the values of the route label, never raw paths.
const (
	RouteHealth    = "health"
	RouteMessage   = "message"
	RouteMetrics   = "metrics"
	RouteUnmatched = "unmatched"
)

// retryAfterSeconds is what a 503 tells clients: long enough for the token
// cache's back-off or an SQS blip to pass.
const retryAfterSeconds = "5"

// New returns the API's handler.
func New(opt Options) http.Handler {
	if opt.HTTP == nil {
		opt.HTTP = metrics.NewHTTP(prometheus.NewRegistry(), "unused")
	}
	h := &api{opt: opt}
	r := httprouter.New()
	// httprouter's defaults answer OPTIONS with an empty 200 and redirect
	// near-miss paths with an empty 307, outside the error contract and
	// before any instrumentation: every such request is a 404 or 405 here.
	r.HandleOPTIONS = false
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.Handler(http.MethodGet, "/health", opt.HTTP.Instrument(RouteHealth, http.HandlerFunc(httpserver.Health)))
	r.Handler(http.MethodPost, "/api/message", opt.HTTP.Instrument(RouteMessage, http.HandlerFunc(h.postMessage)))
	if opt.Metrics != nil {
		r.Handler(http.MethodGet, "/metrics", opt.HTTP.Instrument(RouteMetrics, opt.Metrics))
	}
	r.NotFound = opt.HTTP.Instrument(RouteUnmatched, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpserver.WriteError(w, http.StatusNotFound, "not found")
	}))
	// httprouter has already set the Allow header when this runs.
	r.MethodNotAllowed = opt.HTTP.Instrument(RouteUnmatched, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpserver.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
	}))
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		opt.Logger.ErrorContext(req.Context(), "panic while serving a request", "panic", fmt.Sprint(v))
		httpserver.WriteError(w, http.StatusInternalServerError, "internal error")
	}
	return requestid.Middleware(httpserver.AccessLog(opt.Logger, r))
}

type api struct{ opt Options }

// QueuedResponse is the 200 body of POST /api/message.
type QueuedResponse struct {
	Status    string `json:"status"`
	MessageID string `json:"message_id"`
}

func (h *api) postMessage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if problem := checkContentType(r.Header.Get("Content-Type")); problem != "" {
		httpserver.WriteError(w, http.StatusUnsupportedMediaType, "unsupported media type",
			message.FieldError{Field: "Content-Type", Message: problem})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opt.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpserver.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large",
			message.FieldError{Field: "body", Message: fmt.Sprintf("must be at most %d bytes", tooLarge.Limit)})
		return
	case err != nil:
		httpserver.WriteError(w, http.StatusBadRequest, "could not read the request body",
			message.FieldError{Field: "body", Message: err.Error()})
		return
	}

	req, err := message.ParseRequest(body)
	var me *message.Error
	if errors.As(err, &me) {
		// Without an object there is no token to check; say only what is
		// wrong with the JSON.
		httpserver.WriteError(w, http.StatusBadRequest, "malformed JSON",
			message.FieldError{Field: "body", Message: strings.TrimPrefix(me.Reason, "malformed JSON: ")})
		return
	}

	// Authenticate before judging the payload, so a caller without the
	// token learns nothing about it. Missing and wrong tokens get the same
	// answer.
	ok, err := h.opt.Tokens.Check(ctx, req.Token)
	if err != nil {
		h.opt.Logger.ErrorContext(ctx, "token check unavailable", "error", err.Error())
		w.Header().Set("Retry-After", retryAfterSeconds)
		httpserver.WriteError(w, http.StatusServiceUnavailable, "authentication unavailable, try again later")
		return
	}
	if !ok {
		h.opt.Logger.InfoContext(ctx, "request refused: missing or invalid token", "token_present", req.Token != "")
		httpserver.WriteError(w, http.StatusUnauthorized, "missing or invalid token")
		return
	}

	if errors.As(req.Validate(), &me) {
		details := make([]any, len(me.Fields))
		for i, f := range me.Fields {
			details[i] = f
		}
		h.opt.Logger.InfoContext(ctx, "request refused: invalid payload", "error", me.Error())
		httpserver.WriteError(w, http.StatusBadRequest, "invalid payload", details...)
		return
	}

	id, err := h.opt.Publisher.Publish(ctx, req.Data, requestid.FromContext(ctx))
	var refused *publish.RefusedError
	if errors.As(err, &refused) {
		// SQS refuses this message for good: a retry cannot help, so
		// this is the client's error, not a 503.
		h.opt.Logger.InfoContext(ctx, "request refused: the queue refuses the message", "error", err.Error())
		detail := message.FieldError{Field: message.FieldData, Message: refused.Error()}
		if refused.TooLarge {
			httpserver.WriteError(w, http.StatusRequestEntityTooLarge, "message too large", detail)
		} else {
			httpserver.WriteError(w, http.StatusBadRequest, "invalid payload", detail)
		}
		return
	}
	if err != nil {
		h.opt.Logger.ErrorContext(ctx, "publish failed", "error", err.Error())
		w.Header().Set("Retry-After", retryAfterSeconds)
		httpserver.WriteError(w, http.StatusServiceUnavailable, "message queue unavailable, try again later")
		return
	}
	// The access log line of this request carries the id: one line per
	// accepted message, not two.
	httpserver.AddLogAttrs(ctx, slog.String("message_id", id))
	writeQueued(w, id)
}

// writeQueued writes the 200 body, byte for byte what WriteJSON would
// write for QueuedResponse, without reflection: it is every accepted
// request's answer. An id that would need escaping (ours are UUIDs) takes
// the general path.
func writeQueued(w http.ResponseWriter, id string) {
	if !plainJSONString(id) {
		httpserver.WriteJSON(w, http.StatusOK, QueuedResponse{Status: "queued", MessageID: id})
		return
	}
	body := make([]byte, 0, len(queuedPrefix)+len(id)+len(queuedSuffix))
	body = append(append(append(body, queuedPrefix...), id...), queuedSuffix...)
	httpserver.WriteJSONBody(w, http.StatusOK, body)
}

const (
	queuedPrefix = `{"status":"queued","message_id":"`
	queuedSuffix = "\"}\n"
)

// plainJSONString reports whether s can stand between quotes in JSON as it
// is: printable ASCII with nothing encoding/json would escape.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// checkContentType accepts application/json, with an optional UTF-8
// charset, and explains anything else.
func checkContentType(ct string) string {
	switch ct {
	case "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8":
		return "" // what nearly every client sends, without parsing it
	case "":
		return "must be application/json (none was sent)"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return "must be application/json"
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "charset must be utf-8"
	}
	return ""
}
