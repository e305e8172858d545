package config

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/message"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(libconfig.FromMap(map[string]string{
		"SSM_PARAMETER_NAME": "/devops-exam/dev/api-token",
		"SQS_QUEUE_URL":      "https://sqs.us-east-1.amazonaws.com/123456/devops-exam-queue",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HTTPAddr:         ":8080",
		SSMParameterName: "/devops-exam/dev/api-token",
		SQSQueueURL:      "https://sqs.us-east-1.amazonaws.com/123456/devops-exam-queue",
		TokenCacheTTL:    5 * time.Minute,
		TokenStaleMax:    15 * time.Minute,
		MaxBodyBytes:     DefaultMaxBodyBytes,
		PublishInFlight:  DefaultPublishInFlight,
		ShutdownTimeout:  25 * time.Second,
		LogLevel:         slog.LevelInfo,
	}
	if c != want {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := Load(libconfig.FromMap(map[string]string{
		"SSM_PARAMETER_NAME":    "token",
		"SQS_QUEUE_URL":         "http://127.0.0.1:4566/000000000000/q",
		"HTTP_ADDR":             "127.0.0.1:9000",
		"METRICS_ADDR":          "127.0.0.1:9100",
		"AWS_REGION":            "eu-west-1",
		"TOKEN_CACHE_TTL":       "30s",
		"TOKEN_STALE_MAX":       "0",
		"MAX_BODY_BYTES":        "1048576",
		"PUBLISH_MAX_IN_FLIGHT": "4",
		"SHUTDOWN_TIMEOUT":      "5s",
		"LOG_LEVEL":             "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9100" || c.TokenCacheTTL != 30*time.Second || c.TokenStaleMax != 0 ||
		c.MaxBodyBytes != 1<<20 || c.PublishInFlight != 4 || c.LogLevel != slog.LevelDebug || c.Region != "eu-west-1" {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(libconfig.FromMap(map[string]string{
		"TOKEN_CACHE_TTL": "forever",
		"MAX_BODY_BYTES":  "10",
		"LOG_LEVEL":       "chatty",
		"HTTP_ADDR":       ":9000",
		"METRICS_ADDR":    ":9000",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"SSM_PARAMETER_NAME is required", "SQS_QUEUE_URL is required", "TOKEN_CACHE_TTL", "MAX_BODY_BYTES=10", "LOG_LEVEL", "METRICS_ADDR must differ"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Load(libconfig.FromMap(map[string]string{"SSM_PARAMETER_NAME": "a/b", "SQS_QUEUE_URL": "my-queue"}))
	if err == nil || !strings.Contains(err.Error(), `SQS_QUEUE_URL="my-queue" is not an http(s) URL`) || !strings.Contains(err.Error(), "must start with /") {
		t.Fatalf("got %v", err)
	}
}

// The default body limit and its floor fit the largest valid message with
// every character escaped; a Python client sending 50,000 × "ж" through
// json.dumps (300,000 bytes) must not get 413.
func TestBodyLimitFitsTheLargestValidMessage(t *testing.T) {
	if DefaultMaxBodyBytes < message.MaxRequestBytes {
		t.Fatalf("default MAX_BODY_BYTES %d < largest valid request %d", DefaultMaxBodyBytes, message.MaxRequestBytes)
	}
	escaped := `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"` +
		strings.Repeat(`\u0436`, 50_000) + `"},"token":"t"}`
	if len(escaped) > DefaultMaxBodyBytes {
		t.Fatalf("a %d-byte escaped body is over the default limit %d", len(escaped), DefaultMaxBodyBytes)
	}
	base := map[string]string{"SSM_PARAMETER_NAME": "/p", "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}
	with := func(v string) map[string]string {
		m := map[string]string{"MAX_BODY_BYTES": v}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	if _, err := Load(libconfig.FromMap(with(strconv.Itoa(message.MaxRequestBytes - 1)))); err == nil || !strings.Contains(err.Error(), "MAX_BODY_BYTES") {
		t.Fatalf("a limit below the largest valid request was accepted: %v", err)
	}
	if c, err := Load(libconfig.FromMap(with(strconv.Itoa(message.MaxRequestBytes)))); err != nil || c.MaxBodyBytes != message.MaxRequestBytes {
		t.Fatalf("the floor itself: %+v, %v", c, err)
	}
}

func TestSSMParameterARNsAreAccepted(t *testing.T) {
	for _, name := range []string{
		"arn:aws:ssm:us-east-1:123456789012:parameter/devops-exam/dev/api-token",
		"arn:aws:ssm:eu-west-1:123456789012:parameter/api-token",
		"arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/a/b",
		"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/a",
	} {
		c, err := Load(libconfig.FromMap(map[string]string{"SSM_PARAMETER_NAME": name, "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}))
		if err != nil || c.SSMParameterName != name {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{
		"arn:aws:s3:::bucket/key",
		"arn:aws:ssm:us-east-1:123456789012:document/x",
		"arn:aws:ssm:us-east-1:123456789012:parameter/",
		"arn:aws:ssm:us-east-1:12345:parameter/a",
	} {
		_, err := Load(libconfig.FromMap(map[string]string{"SSM_PARAMETER_NAME": name, "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q"}))
		if err == nil || !strings.Contains(err.Error(), "SSM_PARAMETER_NAME") {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

// A FIFO queue needs a message group on every send, which this service does
// not set; it is refused at start-up instead of failing every POST with 503.
func TestFIFOQueueIsRefused(t *testing.T) {
	for _, u := range []string{"https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo", "http://127.0.0.1:4566/000000000000/q.fifo/"} {
		_, err := Load(libconfig.FromMap(map[string]string{"SSM_PARAMETER_NAME": "/p", "SQS_QUEUE_URL": u}))
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestPublishInFlightIsBounded(t *testing.T) {
	for _, v := range []string{"0", "-1", "100000"} {
		_, err := Load(libconfig.FromMap(map[string]string{"SSM_PARAMETER_NAME": "/p", "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "PUBLISH_MAX_IN_FLIGHT": v}))
		if err == nil || !strings.Contains(err.Error(), "PUBLISH_MAX_IN_FLIGHT") {
			t.Errorf("%s: %v", v, err)
		}
	}
}
