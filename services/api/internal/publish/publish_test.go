package publish

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/libs/message"
)

var sample = message.Data{EmailSubject: "Hi <you>", EmailSender: "a@b.c", EmailTimestream: "1", EmailContent: "body & more"}

func TestPublishSendsTheMessageWithItsRequestID(t *testing.T) {
	env := kumotest.Start(t)
	client := env.SQS
	ctx := context.Background()
	queueURL := env.Queue(t, nil)
	p := New(client, queueURL, prometheus.NewRegistry(), "test")
	id, err := p.Publish(ctx, sample, "req-7")
	if err != nil || id == "" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	m := out.Messages[0]
	if aws.ToString(m.MessageId) != id {
		t.Errorf("received id %s, published %s", aws.ToString(m.MessageId), id)
	}
	got, err := message.DecodeData([]byte(aws.ToString(m.Body)))
	if err != nil || got != sample {
		t.Errorf("body decodes to %+v, %v", got, err)
	}
	if v := m.MessageAttributes[message.AttrRequestID].StringValue; aws.ToString(v) != "req-7" {
		t.Errorf("request id attribute = %q", aws.ToString(v))
	}
	if v := m.MessageAttributes[message.AttrSchemaVersion].StringValue; aws.ToString(v) != "1" {
		t.Errorf("schema version attribute = %q", aws.ToString(v))
	}
	if got := testutil.ToFloat64(p.published); got != 1 {
		t.Errorf("published = %v", got)
	}
}

type fakeSender struct {
	out *sqs.SendMessageOutput
	err error
	in  *sqs.SendMessageInput
}

func (f *fakeSender) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = in
	return f.out, f.err
}

func TestPublishFailures(t *testing.T) {
	for name, fake := range map[string]*fakeSender{
		"SQS error":  {err: errors.New("AWS.SimpleQueueService.NonExistentQueue")},
		"no id":      {out: &sqs.SendMessageOutput{}},
		"nil output": {},
	} {
		t.Run(name, func(t *testing.T) {
			p := New(fake, "https://sqs/q", prometheus.NewRegistry(), "test")
			if _, err := p.Publish(context.Background(), sample, ""); err == nil || !strings.Contains(err.Error(), "https://sqs/q") {
				t.Fatalf("got %v", err)
			}
			if _, ok := fake.in.MessageAttributes[message.AttrRequestID]; ok {
				t.Error("empty request id sent as an attribute")
			}
			if got := testutil.ToFloat64(p.failed); got != 1 {
				t.Errorf("failed = %v", got)
			}
		})
	}
}

type hungSender struct{}

func (hungSender) SendMessage(ctx context.Context, _ *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestPublishGivesUpOnAHungQueue(t *testing.T) {
	p := New(hungSender{}, "https://sqs/q", prometheus.NewRegistry(), "test")
	p.timeout = time.Millisecond
	_, err := p.Publish(context.Background(), sample, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

func TestNewSetsTheDefaultTimeout(t *testing.T) {
	if p := New(hungSender{}, "q", prometheus.NewRegistry(), "test"); p.timeout != Timeout {
		t.Fatalf("timeout %s, want %s", p.timeout, Timeout)
	}
}
