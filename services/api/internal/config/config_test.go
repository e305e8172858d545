package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	libconfig "github.com/devops-exam/msgpipe/libs/config"
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
		MaxBodyBytes:     256 << 10,
		ShutdownTimeout:  25 * time.Second,
		LogLevel:         slog.LevelInfo,
	}
	if c != want {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := Load(libconfig.FromMap(map[string]string{
		"SSM_PARAMETER_NAME": "token",
		"SQS_QUEUE_URL":      "http://127.0.0.1:4566/000000000000/q",
		"HTTP_ADDR":          "127.0.0.1:9000",
		"METRICS_ADDR":       "127.0.0.1:9100",
		"AWS_REGION":         "eu-west-1",
		"TOKEN_CACHE_TTL":    "30s",
		"TOKEN_STALE_MAX":    "0",
		"MAX_BODY_BYTES":     "4096",
		"SHUTDOWN_TIMEOUT":   "5s",
		"LOG_LEVEL":          "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9100" || c.TokenCacheTTL != 30*time.Second || c.TokenStaleMax != 0 ||
		c.MaxBodyBytes != 4096 || c.LogLevel != slog.LevelDebug || c.Region != "eu-west-1" {
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
