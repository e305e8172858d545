package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestRunRefusesBeforeTouchingAnything(t *testing.T) {
	for _, k := range []string{"API_URL", "ALB_DNS", "API_TOKEN", "S3_BUCKET_NAME", "SQS_QUEUE_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "E2E_TIMEOUT"} {
		t.Setenv(k, "")
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), nil, strings.NewReader(""), &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "E2E TEST FAILED at setup (configuration)") || !strings.Contains(stderr.String(), "API_TOKEN is required") {
		t.Errorf("no configuration: exit %d, stderr %q", code, stderr.String())
	}

	// A real-looking deployment, no --yes, and no "y" on standard input.
	t.Setenv("ALB_DNS", "alb.example.com")
	t.Setenv("API_TOKEN", "t")
	t.Setenv("S3_BUCKET_NAME", "b")
	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), nil, strings.NewReader(""), &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "E2E TEST FAILED at setup (confirmation): not confirmed") {
		t.Errorf("unconfirmed: exit %d, stderr %q", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "[1/5]") {
		t.Errorf("sent a message without confirmation:\n%s", stdout.String())
	}

	if code := run(t.Context(), []string{"--bogus"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
}

func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("/dev/null counted as a person who can answer")
	}
}
