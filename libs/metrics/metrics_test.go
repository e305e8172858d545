package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInstrumentCountsByRouteMethodAndCode(t *testing.T) {
	reg := NewRegistry()
	m := NewHTTP(reg, "test")
	h := m.Instrument("message", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusTeapot) // ignored, as net/http ignores it
			return
		}
		_, _ = io.WriteString(w, "implicit 200")
	}))
	for _, method := range []string{http.MethodPost, http.MethodPost, http.MethodGet, "BREW"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/x", nil))
	}
	for labels, want := range map[[3]string]float64{
		{"message", "POST", "201"}:  2,
		{"message", "GET", "200"}:   1,
		{"message", "OTHER", "200"}: 1,
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(labels[:]...)); got != want {
			t.Errorf("requests%v = %v, want %v", labels, got, want)
		}
	}
	if got := testutil.CollectAndCount(m.duration); got != 1 {
		t.Errorf("duration series = %d, want 1", got)
	}
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("in flight after requests = %v", got)
	}
}

func TestHandlerExposesRuntimeAndOwnMetrics(t *testing.T) {
	reg := NewRegistry()
	NewHTTP(reg, "test").Instrument("health", http.NotFoundHandler()).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", `test_http_requests_total{code="404",method="GET",route="health"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}
