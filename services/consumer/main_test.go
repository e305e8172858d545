package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/message"
)

// logLine returns the first JSON log line whose msg is msg.
func logLine(out, msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// awsEnv points the SDK, which reads the process environment, at kumo with
// fake credentials and no shared config files.
func awsEnv(t *testing.T, url string) {
	t.Setenv("AWS_ENDPOINT_URL", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", kumotest.Region)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The real wiring, end to end: message in, object out, queue empty, and a
// clean stop when the context ends.
func TestRunMovesAMessageFromSQSToS3(t *testing.T) {
	env := kumotest.Start(t)
	awsEnv(t, env.URL)
	queue := env.Queue(t, nil)
	bucket := env.Bucket(t)
	lookup := libconfig.FromMap(map[string]string{
		"SQS_QUEUE_URL":         queue,
		"S3_BUCKET_NAME":        bucket,
		"HTTP_ADDR":             "127.0.0.1:0",
		"POLL_INTERVAL":         "1",
		"VISIBILITY_TIMEOUT":    "2s",
		"DELETE_FLUSH_INTERVAL": "20ms",
		"SHUTDOWN_TIMEOUT":      "2s",
		"LOG_LEVEL":             "debug",
	})
	var stdout, stderr testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, lookup, &stdout, &stderr) }()

	var started map[string]any
	testkit.Eventually(t, 10*time.Second, "consumer started", func() (bool, string) {
		started = logLine(stdout.String(), "consumer started")
		return started != nil, ""
	})
	if started["queue"] != queue || started["bucket"] != bucket || started["service"] != "consumer" {
		t.Errorf("start line %v", started)
	}
	base := "http://" + started["http_addr"].(string)
	if code, body := get(t, base+"/health"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/health: %d %s", code, body)
	}

	data := message.Data{EmailSubject: "Hi", EmailSender: "ann@example.com", EmailTimestream: "1693561101", EmailContent: "body"}
	body, _ := data.Encode()
	sent, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(queue),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			message.AttrRequestID: {DataType: aws.String("String"), StringValue: aws.String("req-main")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(sent.MessageId)

	var key string
	testkit.Eventually(t, 10*time.Second, "object stored", func() (bool, string) {
		out, err := env.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil || len(out.Contents) == 0 {
			return false, ""
		}
		key = aws.ToString(out.Contents[0].Key)
		return true, ""
	})
	if !strings.HasPrefix(key, message.KeyPrefix) || !strings.HasSuffix(key, "/"+id+".json") {
		t.Errorf("key %s", key)
	}
	obj, err := env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var doc message.Stored
	err = json.NewDecoder(obj.Body).Decode(&doc)
	obj.Body.Close()
	if err != nil || doc.Data != data || doc.MessageID != id || doc.RequestID != "req-main" {
		t.Errorf("stored %+v (%v)", doc, err)
	}
	testkit.Eventually(t, 10*time.Second, "queue empty", func() (bool, string) {
		out, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(queue),
			AttributeNames: []types.QueueAttributeName{
				types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			return false, ""
		}
		n := 0
		for _, v := range out.Attributes {
			i, _ := strconv.Atoi(v)
			n += i
		}
		return n == 0, ""
	})
	// The queue empties when SQS has processed the delete, a moment before
	// the consumer has read the answer and counted it.
	var code int
	var metrics string
	testkit.Eventually(t, 10*time.Second, "delete counted", func() (bool, string) {
		code, metrics = get(t, base+"/metrics")
		return strings.Contains(metrics, "msgpipe_consumer_deletes_total 1"), ""
	})
	for _, want := range []string{
		"msgpipe_consumer_messages_received_total 1",
		"msgpipe_consumer_messages_stored_total 1",
		"msgpipe_consumer_deletes_total 1",
		`msgpipe_consumer_messages_failed_total{reason="invalid"} 0`,
		`msgpipe_consumer_http_requests_total{code="200",method="GET",route="health"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	// Log lines are written in batches, within logging.FlushInterval.
	testkit.Eventually(t, 10*time.Second, "stored line", func() (bool, string) {
		line := logLine(stdout.String(), "message stored")
		return line != nil && line["message_id"] == id && line["request_id"] == "req-main", fmt.Sprint(line)
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if logLine(stdout.String(), "consumer stopped") == nil {
		t.Errorf("no stop line:\n%s", stdout.String())
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr.String())
	}
	if exitCode(nil) != 0 {
		t.Error("a clean stop must exit 0")
	}
}

func TestRunReportsEveryConfigProblemOnStderr(t *testing.T) {
	var stdout, stderr testkit.Buffer
	err := run(context.Background(), libconfig.FromMap(map[string]string{
		"WORKER_CONCURRENCY": "0",
		"LOG_LEVEL":          "chatty",
	}), &stdout, &stderr)
	if !libconfig.IsConfigError(err) || exitCode(err) != 2 {
		t.Fatalf("err %v, exit %d", err, exitCode(err))
	}
	msg := stderr.String()
	for _, want := range []string{"invalid configuration (4 problems)", "SQS_QUEUE_URL is required", "S3_BUCKET_NAME is required", "WORKER_CONCURRENCY=0", "LOG_LEVEL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if stdout.String() != "" {
		t.Errorf("stdout: %s", stdout.String())
	}
}

func TestRunFailsWhenTheHTTPAddressIsTaken(t *testing.T) {
	env := kumotest.Start(t)
	awsEnv(t, env.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr testkit.Buffer
	err = run(context.Background(), libconfig.FromMap(map[string]string{
		"SQS_QUEUE_URL":  env.URL + "/000000000000/none",
		"S3_BUCKET_NAME": "none",
		"HTTP_ADDR":      ln.Addr().String(),
	}), &stdout, &stderr)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("err %v, exit %d", err, exitCode(err))
	}
	if line := logLine(stdout.String(), "consumer failed"); line == nil || !strings.Contains(fmt.Sprint(line["error"]), ln.Addr().String()) {
		t.Errorf("failure not logged with the address:\n%s", stdout.String())
	}
}

func TestExitCode(t *testing.T) {
	if exitCode(errors.New("boom")) != 1 || exitCode(&libconfig.Error{}) != libconfig.ExitCode || exitCode(nil) != 0 {
		t.Fatal("exit codes")
	}
}
