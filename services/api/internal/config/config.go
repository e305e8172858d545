// Package config is the API service's typed configuration, read once from
// the environment at start-up.
package config

import (
	"log/slog"
	"strings"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
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
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT
	LogLevel         slog.Level    // LOG_LEVEL
}

// Defaults, as documented in the README.
const (
	DefaultHTTPAddr        = ":8080"
	DefaultTokenCacheTTL   = 5 * time.Minute
	DefaultTokenStaleMax   = 15 * time.Minute
	DefaultMaxBodyBytes    = 256 << 10
	DefaultShutdownTimeout = 25 * time.Second
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
		// The lower bound fits the largest valid message; the upper keeps
		// one request from holding megabytes of memory.
		MaxBodyBytes:    l.Int("MAX_BODY_BYTES", DefaultMaxBodyBytes, 1<<10, 8<<20),
		ShutdownTimeout: l.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 0, 10*time.Minute),
		LogLevel:        l.LogLevel("LOG_LEVEL"),
	}
	if c.SSMParameterName != "" && !strings.HasPrefix(c.SSMParameterName, "/") && strings.Contains(c.SSMParameterName, "/") {
		l.Problem("SSM_PARAMETER_NAME=%q: a hierarchical name must start with /", c.SSMParameterName)
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr && !strings.HasSuffix(c.HTTPAddr, ":0") {
		l.Problem("METRICS_ADDR must differ from HTTP_ADDR (leave it unset to serve /metrics on HTTP_ADDR)")
	}
	return c, l.Err()
}
