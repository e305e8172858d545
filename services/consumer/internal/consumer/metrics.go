package consumer

import "github.com/prometheus/client_golang/prometheus"

// Namespace prefixes every consumer metric.
const Namespace = "msgpipe_consumer"

// Reasons a message was not stored or not deleted, as the "reason" label of
// messages_failed_total. The set is fixed so the label stays low-cardinality.
const (
	ReasonInvalid  = "invalid"  // the body or its SQS attributes break the schema
	ReasonPut      = "put"      // S3 refused or failed the write
	ReasonConflict = "conflict" // 409: another write of the key still in progress, retries used up
	ReasonShutdown = "shutdown" // the write was abandoned at SHUTDOWN_TIMEOUT
	ReasonDelete   = "delete"   // stored, but SQS would not delete it
)

// Metrics are the consumer's Prometheus instruments.
type Metrics struct {
	Received            prometheus.Counter
	Stored              prometheus.Counter
	Failed              *prometheus.CounterVec
	PutDuration         prometheus.Histogram
	MessageAge          prometheus.Histogram
	InFlight            prometheus.Gauge
	ReceiveErrors       prometheus.Counter
	Deletes             prometheus.Counter
	VisibilityExtension prometheus.Counter
	Paused              prometheus.Gauge
	Probes              prometheus.Counter
	// VisibilityExtensionErrors counts failed extensions: each one risks
	// the message reappearing while it is still being stored.
	VisibilityExtensionErrors prometheus.Counter
}

// NewMetrics registers the consumer's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_received_total",
			Help: "Messages received from SQS, redeliveries included.",
		}),
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_stored_total",
			Help: "Messages whose object is in S3, written now or by an earlier delivery.",
		}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_failed_total",
			Help: "Messages left in SQS, by reason (invalid, put, conflict, shutdown, delete).",
		}, []string{"reason"}),
		PutDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "s3_put_duration_seconds",
			Help:    "Time of one S3 PutObject, whatever its outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		MessageAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "message_age_seconds",
			Help:    "Time from the API accepting a message (accepted_at; older messages: SentTimestamp) to its object being stored.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "messages_in_flight",
			Help: "Messages received and not yet finished.",
		}),
		ReceiveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "receive_errors_total",
			Help: "ReceiveMessage calls that failed.",
		}),
		Deletes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "deletes_total",
			Help: "Messages deleted from SQS after their object was stored.",
		}),
		VisibilityExtension: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "visibility_extensions_total",
			Help: "ChangeMessageVisibility calls that kept a slow message invisible.",
		}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "receiving_paused",
			Help: "1 while receiving is paused because S3 is unavailable, else 0.",
		}),
		Probes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "s3_probes_total",
			Help: "S3 probes made while receiving was paused.",
		}),
		VisibilityExtensionErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "visibility_extension_errors_total",
			Help: "ChangeMessageVisibility calls that failed while a message was being stored.",
		}),
	}
	// Each reason exists from the start, so a rate() over it is never
	// missing data before the first failure.
	for _, r := range []string{ReasonInvalid, ReasonPut, ReasonConflict, ReasonShutdown, ReasonDelete} {
		m.Failed.WithLabelValues(r)
	}
	reg.MustRegister(m.Received, m.Stored, m.Failed, m.PutDuration, m.MessageAge,
		m.InFlight, m.ReceiveErrors, m.Deletes, m.VisibilityExtension, m.VisibilityExtensionErrors,
		m.Paused, m.Probes)
	return m
}
