package awsconfig

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

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
