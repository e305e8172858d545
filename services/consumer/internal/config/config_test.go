package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
)

func required() map[string]string {
	return map[string]string{
		"SQS_QUEUE_URL":  "http://localhost:4566/000000000000/messages",
		"S3_BUCKET_NAME": "msgpipe-messages",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(libconfig.FromMap(required()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		QueueURL:            "http://localhost:4566/000000000000/messages",
		Bucket:              "msgpipe-messages",
		PollInterval:        10 * time.Second,
		WorkerConcurrency:   64,
		ReceiveConcurrency:  8,
		VisibilityTimeout:   30 * time.Second,
		SSE:                 "AES256",
		HTTPAddr:            ":8080",
		ShutdownTimeout:     25 * time.Second,
		DeleteFlushInterval: 250 * time.Millisecond,
		LogLevel:            slog.LevelInfo,
		// Sampling is on by default.
		QueueMetricsInterval: 30 * time.Second,
	}
	if c != want {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadEverySetting(t *testing.T) {
	env := required()
	for k, v := range map[string]string{
		"AWS_REGION":            "eu-west-1",
		"POLL_INTERVAL":         "5", // a bare integer is seconds
		"WORKER_CONCURRENCY":    "1000",
		"RECEIVE_CONCURRENCY":   "3",
		"VISIBILITY_TIMEOUT":    "2s",
		"S3_SSE":                "aws:kms",
		"S3_KMS_KEY_ID":         "alias/msgpipe",
		"HTTP_ADDR":             "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT":      "1m",
		"DELETE_FLUSH_INTERVAL": "999ms",
		"LOG_LEVEL":             "debug",
	} {
		env[k] = v
	}
	c, err := Load(libconfig.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-west-1" || c.PollInterval != 5*time.Second || c.WorkerConcurrency != 1000 || c.ReceiveConcurrency != 3 ||
		c.VisibilityTimeout != 2*time.Second || c.SSE != SSEKMS || c.KMSKeyID != "alias/msgpipe" ||
		c.HTTPAddr != "127.0.0.1:0" || c.ShutdownTimeout != time.Minute ||
		c.DeleteFlushInterval != 999*time.Millisecond || c.LogLevel != slog.LevelDebug {
		t.Fatalf("got %+v", c)
	}
}

// One start-up names every mistake, so an operator fixes them in one deploy.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"POLL_INTERVAL":         "soon",
		"WORKER_CONCURRENCY":    "0",
		"VISIBILITY_TIMEOUT":    "1s",
		"S3_SSE":                "aws:kms",
		"HTTP_ADDR":             "8080",
		"SHUTDOWN_TIMEOUT":      "-1s",
		"DELETE_FLUSH_INTERVAL": "2m",
		"LOG_LEVEL":             "loud",
	}
	_, err := Load(libconfig.FromMap(env))
	if !libconfig.IsConfigError(err) {
		t.Fatalf("want a config error, got %v", err)
	}
	var ce *libconfig.Error
	errors.As(err, &ce)
	wants := []string{
		"SQS_QUEUE_URL is required",
		"S3_BUCKET_NAME is required",
		`POLL_INTERVAL="soon" is not a duration`,
		"WORKER_CONCURRENCY=0 is out of range [1, 1000]",
		"VISIBILITY_TIMEOUT=1s is out of range [2s, 12h0m0s]",
		"SHUTDOWN_TIMEOUT=-1s is out of range",
		"DELETE_FLUSH_INTERVAL=2m0s is out of range",
		"S3_KMS_KEY_ID is required when S3_SSE=aws:kms",
		`HTTP_ADDR="8080" is not host:port`,
		`LOG_LEVEL: log level "loud"`,
	}
	if len(ce.Problems) != len(wants) {
		t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(wants), err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"queue URL without scheme", "SQS_QUEUE_URL", "sqs.us-east-1.amazonaws.com/1/q", "is not an http(s) URL"},
		{"queue URL unparsable", "SQS_QUEUE_URL", "http://[::1", "is not an http(s) URL"},
		{"bucket ARN", "S3_BUCKET_NAME", "arn:aws:s3:::bucket", "is not a valid bucket name"},
		{"bucket too short", "S3_BUCKET_NAME", "ab", "is not a valid bucket name"},
		{"bucket ends with dash", "S3_BUCKET_NAME", "bucket-", "is not a valid bucket name"},
		{"bucket upper case", "S3_BUCKET_NAME", "Bucket", "is not a valid bucket name"},
		{"fractional visibility", "VISIBILITY_TIMEOUT", "2500ms", "whole number of seconds"},
		{"visibility over SQS maximum", "VISIBILITY_TIMEOUT", "43201", "out of range"},
		{"unknown SSE", "S3_SSE", "aws:kms:dsse", "must be one of AES256, aws:kms"},
		{"KMS key without KMS", "S3_KMS_KEY_ID", "alias/x", "S3_KMS_KEY_ID is set but S3_SSE is AES256"},
		{"workers over limit", "WORKER_CONCURRENCY", "1001", "out of range [1, 1000]"},
		{"workers not a number", "WORKER_CONCURRENCY", "ten", "is not an integer"},
		{"receivers zero", "RECEIVE_CONCURRENCY", "0", "out of range [1, 1000]"},
		{"receivers not a number", "RECEIVE_CONCURRENCY", "two", "is not an integer"},
		{"receivers over workers", "RECEIVE_CONCURRENCY", "65", "RECEIVE_CONCURRENCY=65 is more than WORKER_CONCURRENCY=64"},
		{"delete flush at half the visibility", "DELETE_FLUSH_INTERVAL", "15s", "DELETE_FLUSH_INTERVAL=15s must be under half of VISIBILITY_TIMEOUT=30s"},
		{"delete flush over the visibility", "DELETE_FLUSH_INTERVAL", "45s", "must be under half of VISIBILITY_TIMEOUT"},
		{"named port", "HTTP_ADDR", ":http", "invalid port"},
		{"port too big", "HTTP_ADDR", ":65536", "invalid port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := required()
			env[tc.key] = tc.value
			_, err := Load(libconfig.FromMap(env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadFromProcessEnvironment(t *testing.T) {
	t.Setenv("SQS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/q")
	t.Setenv("S3_BUCKET_NAME", "b.example")
	t.Setenv("POLL_INTERVAL", "0")
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "b.example" || c.PollInterval != 0 {
		t.Fatalf("got %+v", c)
	}
}

// The receive loops default to one per ten workers plus one, so that a
// slow receive never leaves the workers waiting on a single loop.
func TestReceiveConcurrencyFollowsTheWorkers(t *testing.T) {
	for workers, want := range map[string]int{"1": 1, "2": 2, "10": 2, "11": 3, "64": 8, "1000": 101} {
		env := required()
		env["WORKER_CONCURRENCY"] = workers
		c, err := Load(libconfig.FromMap(env))
		if err != nil {
			t.Fatal(err)
		}
		if c.ReceiveConcurrency != want || DefaultReceiveConcurrency(c.WorkerConcurrency) != want {
			t.Errorf("workers %s: %d receivers, want %d", workers, c.ReceiveConcurrency, want)
		}
	}
}
