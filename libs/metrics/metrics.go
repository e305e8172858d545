// Package metrics gives both services one Prometheus registry with the Go
// and process collectors, an HTTP handler for it, and per-route request
// instrumentation whose labels stay low-cardinality.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/devops-exam/msgpipe/libs/httpserver"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors. A private registry, rather than the global default, keeps
// tests independent and the exposition free of surprises.
func NewRegistry() *Registry {
	reg := &Registry{Registry: prometheus.NewRegistry()}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Gatherer is a registry Handler can serve: it gathers the metrics and
// takes the handler's own error counter.
type Gatherer interface {
	prometheus.Gatherer
	prometheus.Registerer
}

// Handler serves reg in the Prometheus text format.
func Handler(reg Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP records requests by route name, method and status code, and their
// duration by route.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewHTTP registers the HTTP metrics under namespace (e.g. "msgpipe_api").
func NewHTTP(reg prometheus.Registerer, namespace string) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by route name, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// Instrument wraps next, recording under the given route name. The route is
// a fixed name chosen by the caller, never the raw path, so a scanner
// probing random URLs cannot blow up the number of series.
func (m *HTTP) Instrument(route string, next http.Handler) http.Handler {
	// Looked up once here rather than hashed on every request.
	duration := m.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		rec := httpserver.NewStatusWriter(w)
		defer func() {
			m.inFlight.Dec()
			m.requests.WithLabelValues(route, method(r.Method), strconv.Itoa(rec.Status)).Inc()
			duration.Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// method maps the request method to a bounded set of label values.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
