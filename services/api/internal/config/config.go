// Package config is the API service's typed configuration, read once from
// the environment at start-up.
package config

import (
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/services/api/internal/publish"
)

// Config holds every setting of the API service.
type Config struct {
	HTTPAddr         string        // HTTP_ADDR
	MetricsAddr      string        // METRICS_ADDR: "" serves /metrics on HTTPAddr
	Region           string        // AWS_REGION
	SSMParameterName string        // SSM_PARAMETER_NAME
	SQSQueueURL      string        // SQS_QUEUE_URL
	TokenCacheTTL    time.Duration // TOKEN_CACHE_TTL
	TokenStaleMax    time.Duration // TOKEN_STALE_MAX: 0 disables stale serving
	MaxBodyBytes     int64         // MAX_BODY_BYTES
	PublishInFlight  int           // PUBLISH_MAX_IN_FLIGHT
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT
	LogLevel         slog.Level    // LOG_LEVEL
}

// Defaults, as documented in the README.
const (
	DefaultHTTPAddr      = ":8080"
	DefaultTokenCacheTTL = 5 * time.Minute
	DefaultTokenStaleMax = 15 * time.Minute
	// DefaultMaxBodyBytes is the largest valid request (every character
	// escaped as \uXXXX), rounded up to a whole KiB.
	DefaultMaxBodyBytes    = (message.MaxRequestBytes + 1<<10 - 1) &^ (1<<10 - 1)
	DefaultShutdownTimeout = 25 * time.Second
	DefaultPublishInFlight = publish.DefaultMaxInFlight // see its doc for sizing
)

// Load reads the configuration through lookup (nil: the process
// environment) and reports every problem at once.
func Load(lookup libconfig.LookupFunc) (Config, error) {
	l := libconfig.NewLoader(lookup)
	c := Config{
		HTTPAddr:         l.Addr("HTTP_ADDR", DefaultHTTPAddr),
		MetricsAddr:      l.Addr("METRICS_ADDR", ""),
		Region:           l.String("AWS_REGION", ""),
		SSMParameterName: l.Required("SSM_PARAMETER_NAME"),
		SQSQueueURL:      l.URL("SQS_QUEUE_URL"),
		TokenCacheTTL:    l.Duration("TOKEN_CACHE_TTL", DefaultTokenCacheTTL, time.Second, 24*time.Hour),
		TokenStaleMax:    l.Duration("TOKEN_STALE_MAX", DefaultTokenStaleMax, 0, 24*time.Hour),
		// The floor is the largest valid request with every character
		// escaped as \uXXXX, so no setting can refuse a valid message; the
		// ceiling keeps one request from holding many megabytes.
		MaxBodyBytes:    l.Int("MAX_BODY_BYTES", DefaultMaxBodyBytes, message.MaxRequestBytes, 8<<20),
		PublishInFlight: int(l.Int("PUBLISH_MAX_IN_FLIGHT", DefaultPublishInFlight, 1, 256)),
		ShutdownTimeout: l.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 0, 10*time.Minute),
		LogLevel:        l.LogLevel("LOG_LEVEL"),
	}
	switch name := c.SSMParameterName; {
	case strings.HasPrefix(name, "arn:"):
		// GetParameter takes an ARN, and needs one for a parameter shared
		// from another account.
		if !parameterARN.MatchString(name) {
			l.Problem("SSM_PARAMETER_NAME=%q is not an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>)", name)
		}
	case name != "" && !strings.HasPrefix(name, "/") && strings.Contains(name, "/"):
		l.Problem("SSM_PARAMETER_NAME=%q: a hierarchical name must start with /", name)
	}
	if isFIFO(c.SQSQueueURL) {
		// Every send to a FIFO queue needs a MessageGroupId. The pipeline
		// promises no order, and duplicates are already harmless (the
		// consumer keys objects by the api's message id), so FIFO would
		// only cap throughput; refuse it here rather than answer every
		// POST with 503.
		l.Problem("SQS_QUEUE_URL=%q is a FIFO queue, which this service does not publish to; use a standard queue", c.SQSQueueURL)
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		l.Problem("METRICS_ADDR must differ from HTTP_ADDR (leave it unset to serve /metrics on HTTP_ADDR)")
	}
	return c, l.Err()
}

// parameterARN matches an SSM parameter ARN in any partition.
var parameterARN = regexp.MustCompile(`^arn:aws(-[a-z]+)*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9_.\-/]+$`)

// isFIFO reports whether queueURL names a FIFO queue, whose name ends in
// ".fifo".
func isFIFO(queueURL string) bool {
	u, err := url.Parse(queueURL)
	return err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), ".fifo")
}
