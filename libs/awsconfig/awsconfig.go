// Package awsconfig builds AWS SDK clients from the default credential chain
// (the ECS task role in production; never keys in code), and points them at
// a local emulator when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE> is set,
// so the binaries that ship are the binaries that run locally.
//
// Every client it builds sends request bodies from memory (see
// bufferingClient), so that a lost response cannot make the SDK silently
// retry a call the service already answered.
package awsconfig

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRegion is used when neither AWS_REGION nor a profile names one, as
// the system this replaces did.
const DefaultRegion = "us-east-1"

// DefaultMaxConnsPerHost is the connection pool size per host without
// WithMaxConnsPerHost.
const DefaultMaxConnsPerHost = 128

// Option adjusts what Load builds.
type Option func(*options)

type options struct {
	maxConnsPerHost int
	logger          *slog.Logger
	countAttempt    func(service, operation string)
	transport       http.RoundTripper // tests only: replaces the SDK's transport
}

// WithMaxConnsPerHost sizes the HTTP connection pool for n concurrent calls
// to one host: n connections stay open between calls and are reused, not
// re-dialled. It does not cap: a call beyond n dials a new connection.
// Pass the caller's concurrency (workers, batch calls in flight).
func WithMaxConnsPerHost(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConnsPerHost = n
		}
	}
}

// WithLogger sends the SDK's own log lines to log: every retry at debug
// level (so that a retry the caller never sees is on record), and the
// SDK's warnings at warn.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.logger = log }
}

// WithAttemptCounter calls count for every HTTP request an SDK client sends,
// retries included, with the service ("SQS") and operation
// ("SendMessageBatch"): what AWS bills.
func WithAttemptCounter(count func(service, operation string)) Option {
	return func(o *options) { o.countAttempt = count }
}

// CountRequests registers <namespace>_aws_requests_total{service,operation}
// in reg and returns the Option that counts into it.
func CountRequests(reg prometheus.Registerer, namespace string) Option {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "aws_requests_total",
		Help: "HTTP requests sent to AWS, retries included, by service and operation.",
	}, []string{"service", "operation"})
	reg.MustRegister(c)
	return WithAttemptCounter(func(service, operation string) { c.WithLabelValues(service, operation).Inc() })
}

// Load reads the SDK configuration for region ("" means the SDK's own
// lookup, then DefaultRegion). The SDK itself honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>.
func Load(ctx context.Context, region string, opts ...Option) (aws.Config, error) {
	o := options{maxConnsPerHost: DefaultMaxConnsPerHost}
	for _, opt := range opts {
		opt(&o)
	}
	var inner aws.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		// The default of 2 idle connections per host would make concurrent
		// callers reconnect constantly.
		t.MaxIdleConnsPerHost = o.maxConnsPerHost
		t.MaxIdleConns = 2 * o.maxConnsPerHost
	})
	if o.transport != nil {
		inner = &http.Client{Transport: o.transport}
	}
	var loadOpts []func(*config.LoadOptions) error
	if o.transport == nil {
		// The SDK may still adjust its own client (a custom CA bundle).
		loadOpts = append(loadOpts, config.WithHTTPClient(inner))
	}
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	if o.logger != nil {
		loadOpts = append(loadOpts,
			config.WithLogger(slogLogger{o.logger}),
			config.WithClientLogMode(aws.LogRetries))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if o.transport != nil {
		cfg.HTTPClient = inner
	}
	cfg.HTTPClient = &bufferingClient{next: cfg.HTTPClient, max: MaxBufferedBody}
	if o.countAttempt != nil {
		cfg.APIOptions = append(cfg.APIOptions, attemptCounter(o.countAttempt))
	}
	return cfg, nil
}

// attemptCounter adds a finalize step after the retry middleware, which
// therefore runs once per attempt.
func attemptCounter(count func(service, operation string)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("msgpipeCountAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				count(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}

// slogLogger adapts slog to the SDK's logger.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
}

// EndpointOverridden reports whether the environment points service (as
// the SDK names it in AWS_ENDPOINT_URL_<SERVICE>, e.g. "S3") somewhere other
// than AWS.
func EndpointOverridden(service string) bool {
	key := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(service, " ", "_"))
	return os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv(key) != ""
}

// NewS3 returns an S3 client; with an overridden endpoint it uses path-style
// addressing, because emulators do not serve bucket.host virtual hosts.
func NewS3(cfg aws.Config) *s3.Client {
	pathStyle := EndpointOverridden("S3")
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
}

// NewSQS returns an SQS client.
func NewSQS(cfg aws.Config) *sqs.Client { return sqs.NewFromConfig(cfg) }

// NewSSM returns an SSM client.
func NewSSM(cfg aws.Config) *ssm.Client { return ssm.NewFromConfig(cfg) }
