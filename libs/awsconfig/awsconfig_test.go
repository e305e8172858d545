package awsconfig

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/internal/kumotest"
)

func useEmulator(t *testing.T) {
	t.Helper()
	kumotest.Start(t).UseFromEnvironment(t)
}

func TestClientsReachTheEndpointFromTheEnvironment(t *testing.T) {
	useEmulator(t)
	ctx := context.Background()
	cfg, err := Load(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Fatalf("region %q", cfg.Region)
	}

	s3c := NewS3(cfg)
	bucket := kumotest.Name("awsconfig")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket (path-style needed): %v", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "v" {
		t.Fatalf("got %q", b)
	}

	if _, err := NewSQS(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(kumotest.Name("awsconfig"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSSM(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/" + kumotest.Name("awsconfig")), Value: aws.String("x"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
}

func TestRegionDefaultsWhenNothingNamesOne(t *testing.T) {
	useEmulator(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	cfg, err := Load(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != DefaultRegion {
		t.Fatalf("region %q, want %q", cfg.Region, DefaultRegion)
	}
}

func TestEndpointOverridden(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	if EndpointOverridden("S3") {
		t.Fatal("no override set")
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")
	if !EndpointOverridden("s3") || EndpointOverridden("SQS") {
		t.Fatal("service-specific override not seen, or leaked to another service")
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	if !EndpointOverridden("SQS") {
		t.Fatal("global override not seen")
	}
}

// withTransport replaces the SDK's HTTP transport, under the buffering.
func withTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// resetOnce fails the first request after the server has handled it, as a
// connection reset while reading the response would.
type resetOnce struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (r *resetOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && r.calls.Add(1) == 1 {
		resp.Body.Close()
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

func TestRetriesAreLoggedAtDebugAndEveryAttemptIsCounted(t *testing.T) {
	useEmulator(t)
	env := kumotest.Start(t)
	queueURL := env.Queue(t, nil)
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	cfg, err := Load(context.Background(), "us-east-1",
		withTransport(&resetOnce{next: http.DefaultTransport}),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		CountRequests(reg, "test"))
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"level":"DEBUG","msg":"aws sdk: retrying request SQS/SendMessage`) {
		t.Errorf("retry not logged at debug:\n%s", logs.String())
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "SQS", "SendMessage")); got != 2 {
		t.Errorf("counted %v SendMessage requests, want 2 (the call and its retry)", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, service, operation string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "test_aws_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["service"] == service && labels["operation"] == operation {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no test_aws_requests_total{service=%q,operation=%q}", service, operation)
	return nil
}

func TestConnectionPoolIsSizedToTheConcurrency(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want int
	}{{nil, DefaultMaxConnsPerHost}, {[]Option{WithMaxConnsPerHost(40)}, 40}, {[]Option{WithMaxConnsPerHost(0)}, DefaultMaxConnsPerHost}} {
		cfg, err := Load(context.Background(), "us-east-1", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		bc, ok := cfg.HTTPClient.(*bufferingClient)
		if !ok {
			t.Fatalf("HTTP client %T does not buffer request bodies", cfg.HTTPClient)
		}
		tr := bc.next.(*awshttp.BuildableClient).GetTransport()
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.want {
			t.Errorf("idle per host %d, total %d; want %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
}
