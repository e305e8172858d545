package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devops-exam/msgpipe/deploy/monitoring/metricslist"
	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
	libconfig "github.com/devops-exam/msgpipe/libs/config"
)

var update = flag.Bool("update", false, "rewrite the metrics list from the registry run builds")

// metricsList is the checked-in list the alert rules and the dashboard are
// checked against (deploy/monitoring).
var metricsList = filepath.Join("..", "..", "deploy", "monitoring", "metrics", "consumer.txt")

// TestMetricsList holds the metric families the running service exports
// to the checked-in list: rename or drop a metric and this fails until the
// list is regenerated, and then the monitoring test fails for every rule or
// panel still using the old name.
func TestMetricsList(t *testing.T) {
	captured := metricslist.Capture(t.Cleanup, &newRegistry)

	env := kumotest.Start(t)
	awsEnv(t, env.URL)
	lookup := libconfig.FromMap(map[string]string{
		"SQS_QUEUE_URL":    env.Queue(t, nil),
		"S3_BUCKET_NAME":   env.Bucket(t),
		"HTTP_ADDR":        "127.0.0.1:0",
		"POLL_INTERVAL":    "1",
		"SHUTDOWN_TIMEOUT": "2s",
	})
	var stdout, stderr testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, lookup, &stdout, &stderr) }()
	testkit.Eventually(t, 10*time.Second, "consumer started", func() (bool, string) {
		return logLine(stdout.String(), "consumer started") != nil, stdout.String() + stderr.String()
	})
	reg := <-captured
	got, err := reg.Families()
	cancel()
	if runErr := <-done; runErr != nil {
		t.Errorf("run: %v", runErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	msg, err := metricslist.Check("consumer", metricsList, got, *update)
	if err != nil {
		t.Fatal(err)
	}
	if msg != "" {
		t.Fatal(msg)
	}
}

// The consumer samples its queue and the dead-letter queue its redrive
// policy names, and serves the depths on /metrics.
func TestRunExportsQueueDepths(t *testing.T) {
	env := kumotest.Start(t)
	awsEnv(t, env.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dlq := env.Queue(t, nil)
	arn, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dlq), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, arn.Attributes["QueueArn"])
	queue := env.Queue(t, map[string]string{"RedrivePolicy": policy})
	for range 2 {
		if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String("dead")}); err != nil {
			t.Fatal(err)
		}
	}
	lookup := libconfig.FromMap(map[string]string{
		"SQS_QUEUE_URL":          queue,
		"S3_BUCKET_NAME":         env.Bucket(t),
		"HTTP_ADDR":              "127.0.0.1:0",
		"POLL_INTERVAL":          "1",
		"SHUTDOWN_TIMEOUT":       "2s",
		"QUEUE_METRICS_INTERVAL": "1s",
	})
	var stdout, stderr testkit.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, lookup, &stdout, &stderr) }()
	var started map[string]any
	testkit.Eventually(t, 10*time.Second, "consumer started", func() (bool, string) {
		started = logLine(stdout.String(), "consumer started")
		return started != nil, stdout.String() + stderr.String()
	})
	url := "http://" + started["http_addr"].(string) + "/metrics"
	want := `msgpipe_consumer_queue_messages{queue="dead_letter",state="visible"} 2`
	testkit.Eventually(t, 10*time.Second, "dead-letter depth on /metrics", func() (bool, string) {
		_, body := get(t, url)
		return strings.Contains(body, want), body
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
