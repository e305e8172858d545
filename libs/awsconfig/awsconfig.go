// Package awsconfig builds AWS SDK clients from the default credential chain
// (the ECS task role in production; never keys in code), and points them at
// a local emulator when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE> is set,
// so the binaries that ship are the binaries that run locally.
package awsconfig

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// DefaultRegion is used when neither AWS_REGION nor a profile names one, as
// the system this replaces did.
const DefaultRegion = "us-east-1"

// Load reads the SDK configuration for region ("" means the SDK's own
// lookup, then DefaultRegion). The SDK itself honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>.
func Load(ctx context.Context, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		// The consumer runs up to WORKER_CONCURRENCY puts and deletes at once
		// against one host; the default of 10 idle connections per host
		// would make it reconnect constantly.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 128
		})),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return cfg, nil
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
