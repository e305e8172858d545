// Package config reads the consumer's settings from the environment once, at
// start-up, into a typed Config. Every problem is reported together so that
// a bad task definition is fixed in one deploy, not one restart per mistake.
package config

import (
	"log/slog"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
)

// Server-side encryption modes accepted in S3_SSE.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// Defaults, documented in docs/consumer.md; the local stack and the
// integration tests rely on them.
const (
	DefaultPollInterval = 10 * time.Second
	// DefaultWorkerConcurrency is sized for S3's latency, not loopback's:
	// throughput is about workers ÷ put latency, so 64 workers store some
	// 2,500 messages/s at a 25 ms put and 1,300/s at 50 ms (docs/consumer.md).
	DefaultWorkerConcurrency   = 64
	DefaultVisibilityTimeout   = 30 * time.Second
	DefaultHTTPAddr            = ":8080"
	DefaultShutdownTimeout     = 25 * time.Second
	DefaultDeleteFlushInterval = 250 * time.Millisecond
	// DefaultQueueMetricsInterval is a usual scrape interval: sampling
	// faster would not reach the alerts sooner, and each sample costs one
	// or two SQS calls per task.
	DefaultQueueMetricsInterval = 30 * time.Second
)

// QUEUE_METRICS_INTERVAL is 0 (sampling off) or within these bounds; under
// a second the samples would cost more API calls than they tell.
const (
	MinQueueMetricsInterval = time.Second
	MaxQueueMetricsInterval = time.Hour
)

// Bounds. The visibility timeout is sent to SQS in whole seconds, so its
// range is SQS's own (0 to 12 hours) with a floor of 2 s: the consumer
// extends visibility at half the timeout, and below 2 s that is under a
// second, too tight for a network round trip.
const (
	MinVisibilityTimeout = 2 * time.Second
	MaxVisibilityTimeout = 12 * time.Hour
	MaxWorkerConcurrency = 1000
	MaxPollInterval      = time.Hour
	MaxShutdownTimeout   = time.Hour
	MinDeleteFlush       = time.Millisecond
	MaxDeleteFlush       = time.Minute
)

// Config is the consumer's whole configuration.
type Config struct {
	// Region is AWS_REGION; empty lets the SDK decide (then us-east-1).
	Region            string
	QueueURL          string
	Bucket            string
	PollInterval      time.Duration
	WorkerConcurrency int
	// ReceiveConcurrency is how many long-polling receive loops share the
	// workers (RECEIVE_CONCURRENCY, default DefaultReceiveConcurrency).
	ReceiveConcurrency  int
	VisibilityTimeout   time.Duration
	SSE                 string
	KMSKeyID            string
	HTTPAddr            string
	ShutdownTimeout     time.Duration
	DeleteFlushInterval time.Duration
	LogLevel            slog.Level
	// QueueMetricsInterval is how often the queue depths are sampled; 0 is off.
	QueueMetricsInterval time.Duration
}

// Load reads the environment through lookup (nil means the process
// environment). The error, if any, is a *config.Error naming every problem.
func Load(lookup config.LookupFunc) (Config, error) {
	l := config.NewLoader(lookup)
	c := Config{
		Region:              l.String("AWS_REGION", ""),
		QueueURL:            l.URL("SQS_QUEUE_URL"),
		Bucket:              l.Required("S3_BUCKET_NAME"),
		PollInterval:        l.Duration("POLL_INTERVAL", DefaultPollInterval, 0, MaxPollInterval),
		WorkerConcurrency:   int(l.Int("WORKER_CONCURRENCY", DefaultWorkerConcurrency, 1, MaxWorkerConcurrency)),
		ReceiveConcurrency:  int(l.Int("RECEIVE_CONCURRENCY", 0, 1, MaxWorkerConcurrency)),
		VisibilityTimeout:   l.Duration("VISIBILITY_TIMEOUT", DefaultVisibilityTimeout, MinVisibilityTimeout, MaxVisibilityTimeout),
		SSE:                 l.OneOf("S3_SSE", SSEAES256, SSEAES256, SSEKMS),
		KMSKeyID:            l.String("S3_KMS_KEY_ID", ""),
		HTTPAddr:            l.Addr("HTTP_ADDR", DefaultHTTPAddr),
		ShutdownTimeout:     l.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 0, MaxShutdownTimeout),
		DeleteFlushInterval: l.Duration("DELETE_FLUSH_INTERVAL", DefaultDeleteFlushInterval, MinDeleteFlush, MaxDeleteFlush),
		LogLevel:            l.LogLevel("LOG_LEVEL"),
	}
	c.QueueMetricsInterval = l.Duration("QUEUE_METRICS_INTERVAL", DefaultQueueMetricsInterval, 0, MaxQueueMetricsInterval)
	if c.QueueMetricsInterval > 0 && c.QueueMetricsInterval < MinQueueMetricsInterval {
		l.Problem("QUEUE_METRICS_INTERVAL=%s is below %s (0 turns sampling off)", c.QueueMetricsInterval, MinQueueMetricsInterval)
	}

	if c.Bucket != "" && !validBucket(c.Bucket) {
		l.Problem("S3_BUCKET_NAME=%q is not a valid bucket name (3 to 63 characters: a-z, 0-9, '.', '-')", c.Bucket)
	}
	if c.ReceiveConcurrency == 0 {
		c.ReceiveConcurrency = DefaultReceiveConcurrency(c.WorkerConcurrency)
	} else if c.ReceiveConcurrency > c.WorkerConcurrency {
		// Each loop holds a worker slot while it polls; more loops than
		// workers would wait for slots and never receive.
		l.Problem("RECEIVE_CONCURRENCY=%d is more than WORKER_CONCURRENCY=%d", c.ReceiveConcurrency, c.WorkerConcurrency)
	}
	if c.DeleteFlushInterval >= c.VisibilityTimeout/2 {
		// Visibility is extended only while the put runs: a delete that
		// waits half the timeout to be sent can find its message already
		// visible again, and so stored twice as often as it is deleted.
		l.Problem("DELETE_FLUSH_INTERVAL=%s must be under half of VISIBILITY_TIMEOUT=%s", c.DeleteFlushInterval, c.VisibilityTimeout)
	}
	if c.VisibilityTimeout%time.Second != 0 {
		l.Problem("VISIBILITY_TIMEOUT=%s must be a whole number of seconds, as SQS counts it", c.VisibilityTimeout)
	}
	switch {
	case c.SSE == SSEKMS && c.KMSKeyID == "":
		l.Problem("S3_KMS_KEY_ID is required when S3_SSE=%s", SSEKMS)
	case c.SSE != SSEKMS && c.KMSKeyID != "":
		// A key id with SSE-S3 is a half-finished switch to KMS; storing
		// under the wrong key silently is worse than not starting.
		l.Problem("S3_KMS_KEY_ID is set but S3_SSE is %s; set S3_SSE=%s to use it", c.SSE, SSEKMS)
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// DefaultReceiveConcurrency is the number of receive loops for a worker
// count: one per ten workers (a receive returns at most ten messages), plus
// one so that while a loop waits on a slow receive another is asking for
// the slots that freed up meanwhile; never more than the workers.
func DefaultReceiveConcurrency(workers int) int {
	return max(1, min(workers, (workers+9)/10+1))
}

// validBucket applies S3's general-purpose bucket naming rules, enough to
// catch a pasted ARN or URL before the first PutObject does.
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	first, last := name[0], name[len(name)-1]
	return first != '.' && first != '-' && last != '.' && last != '-'
}
