package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
)

// TestRunInABazelSandbox runs the check as //e2e:e2e_test runs under a
// sandboxed `bazel test`: HOME unset (the AWS SDK must not need ~/.aws),
// working directory <runfiles>/_main. Against a local endpoint that refuses
// connections it must get past every setup step and fail at sending.
func TestRunInABazelSandbox(t *testing.T) {
	bazelsandbox.Enter(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for k, v := range map[string]string{
		"API_URL": "http://" + closed, "API_TOKEN": "t", "S3_BUCKET_NAME": "b", "AWS_ENDPOINT_URL": "http://" + closed,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "E2E_TIMEOUT": "1s",
		"ALB_DNS": "", "SQS_QUEUE_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_SQS": "",
	} {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), nil, strings.NewReader(""), &stdout, &stderr)
	if code != exitFailed || strings.Contains(stderr.String(), "at setup") {
		t.Fatalf("exit %d, want %d after setup\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String()+stderr.String(), "[1/5]") {
		t.Errorf("never reached step 1:\n%s\n%s", stdout.String(), stderr.String())
	}
}
