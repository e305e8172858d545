package queuestats

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
)

var fixedNow = time.Unix(1_700_000_000, 0)

func newSampler(api API, queueURL string) (*Sampler, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry(), "t")
	return New(api, queueURL, m, Options{Interval: time.Second, Now: func() time.Time { return fixedNow }}), m
}

func depth(m *Metrics, queue, state string) float64 {
	return testutil.ToFloat64(m.Messages.WithLabelValues(queue, state))
}

// Against the emulator: a queue whose RedrivePolicy names a dead-letter
// queue, with messages waiting, in flight and delayed in one and waiting in
// the other.
func TestSampleReadsBothQueuesFromSQS(t *testing.T) {
	env := kumotest.Start(t)
	ctx := context.Background()
	dlq := env.Queue(t, nil)
	dlqAttrs, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dlq), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": dlqAttrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     "5",
	})
	queue := env.Queue(t, map[string]string{"RedrivePolicy": string(policy)})

	send := func(url, body string, delay int32) {
		t.Helper()
		if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), DelaySeconds: delay}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		send(queue, "waiting", 0)
	}
	send(queue, "delayed", 900)
	send(dlq, "dead", 0)
	send(dlq, "dead", 0)
	got, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1, VisibilityTimeout: 600})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(got.Messages))
	}

	s, m := newSampler(env.SQS, queue)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		queue, state string
		want         float64
	}{
		{QueueMain, StateVisible, 2},
		{QueueMain, StateInFlight, 1},
		{QueueMain, StateDelayed, 1},
		{QueueDeadLetter, StateVisible, 2},
		{QueueDeadLetter, StateInFlight, 0},
		{QueueDeadLetter, StateDelayed, 0},
	} {
		if got := depth(m, c.queue, c.state); got != c.want {
			t.Errorf("%s/%s = %v, want %v", c.queue, c.state, got, c.want)
		}
	}
	for _, q := range []string{QueueMain, QueueDeadLetter} {
		if got := testutil.ToFloat64(m.LastSample.WithLabelValues(q)); got != float64(fixedNow.Unix()) {
			t.Errorf("last sample of %s = %v", q, got)
		}
	}
	if got := testutil.ToFloat64(m.SampleErrors.WithLabelValues(QueueMain)); got != 0 {
		t.Errorf("sample errors = %v", got)
	}
}

func TestSampleWithoutRedrivePolicyReportsOnlyTheQueue(t *testing.T) {
	env := kumotest.Start(t)
	s, m := newSampler(env.SQS, env.Queue(t, nil))
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Messages); n != 3 {
		t.Errorf("%d depth series, want the main queue's 3", n)
	}
}

// fake is an SQS whose answers the test sets; it counts the calls.
type fake struct {
	mu         sync.Mutex
	attrs      map[string]map[string]string // by queue URL
	attrsErr   error
	urlErr     error
	urlCalls   int
	attrsCalls int
	called     chan struct{} // gets a value per GetQueueAttributes, if set
}

func counts3(visible, inFlight, delayed string) map[string]string {
	return map[string]string{
		"ApproximateNumberOfMessages":           visible,
		"ApproximateNumberOfMessagesNotVisible": inFlight,
		"ApproximateNumberOfMessagesDelayed":    delayed,
	}
}

const redrive = `{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:orders-dlq","maxReceiveCount":5}`

func newFake() *fake {
	main := counts3("7", "2", "0")
	main["RedrivePolicy"] = redrive
	return &fake{attrs: map[string]map[string]string{
		"https://q/main": main,
		"https://q/dlq":  counts3("4", "0", "0"),
	}}
}

func (f *fake) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	f.attrsCalls++
	a, err := f.attrs[aws.ToString(in.QueueUrl)], f.attrsErr
	f.mu.Unlock()
	if f.called != nil {
		select {
		case f.called <- struct{}{}:
		case <-ctx.Done():
		}
	}
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errors.New("no such queue")
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fake) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urlCalls++
	if f.urlErr != nil {
		return nil, f.urlErr
	}
	if aws.ToString(in.QueueName) != "orders-dlq" || aws.ToString(in.QueueOwnerAWSAccountId) != "123456789012" {
		return nil, errors.New("no such queue")
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://q/dlq")}, nil
}

func TestSampleLooksTheDeadLetterQueueUpOnce(t *testing.T) {
	f := newFake()
	s, m := newSampler(f, "https://q/main")
	for range 3 {
		if err := s.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if f.urlCalls != 1 {
		t.Errorf("GetQueueUrl called %d times, want 1", f.urlCalls)
	}
	if got := depth(m, QueueDeadLetter, StateVisible); got != 4 {
		t.Errorf("dead-letter depth %v, want 4", got)
	}

	// The policy goes away: so do the dead-letter series.
	delete(f.attrs["https://q/main"], "RedrivePolicy")
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Messages); n != 3 {
		t.Errorf("%d depth series after the policy was removed, want 3", n)
	}
	if n := testutil.CollectAndCount(m.LastSample); n != 1 {
		t.Errorf("%d last-sample series after the policy was removed, want 1", n)
	}
}

// A failed sample is counted against the queue it failed on, returns an
// error naming it, and leaves the gauges as the last good sample set them.
func TestFailedSamplesAreCountedAndKeepTheLastValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		breakIt   func(f *fake)
		queue     string
		errSubstr string
	}{
		{"main unreachable", func(f *fake) { f.attrsErr = errors.New("connection refused") }, QueueMain, "connection refused"},
		{"count missing", func(f *fake) { delete(f.attrs["https://q/main"], "ApproximateNumberOfMessagesDelayed") }, QueueMain, "no ApproximateNumberOfMessagesDelayed"},
		{"count not a number", func(f *fake) { f.attrs["https://q/main"]["ApproximateNumberOfMessages"] = "-1" }, QueueMain, "is not a count"},
		{"dead-letter url", func(f *fake) {
			f.attrs["https://q/main"]["RedrivePolicy"] = strings.Replace(redrive, "orders-dlq", "other-dlq", 1)
			f.urlErr = errors.New("AWS.SimpleQueueService.NonExistentQueue")
		}, QueueDeadLetter, "NonExistentQueue"},
		{"dead-letter attributes", func(f *fake) { delete(f.attrs, "https://q/dlq") }, QueueDeadLetter, "no such queue"},
		{"policy not JSON", func(f *fake) { f.attrs["https://q/main"]["RedrivePolicy"] = "{" }, QueueDeadLetter, "RedrivePolicy"},
		{"policy without target", func(f *fake) { f.attrs["https://q/main"]["RedrivePolicy"] = `{"maxReceiveCount":5}` }, QueueDeadLetter, "no deadLetterTargetArn"},
		{"target not a queue ARN", func(f *fake) {
			f.attrs["https://q/main"]["RedrivePolicy"] = `{"deadLetterTargetArn":"arn:aws:sns:eu-west-1:123456789012:topic"}`
		}, QueueDeadLetter, "not an SQS queue ARN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			s, m := newSampler(f, "https://q/main")
			if err := s.Sample(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.breakIt(f)
			err := s.Sample(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.errSubstr) {
				t.Fatalf("error %v, want one containing %q", err, c.errSubstr)
			}
			if got := testutil.ToFloat64(m.SampleErrors.WithLabelValues(c.queue)); got != 1 {
				t.Errorf("sample errors of %s = %v, want 1", c.queue, got)
			}
			if got := depth(m, QueueMain, StateVisible); got != 7 {
				t.Errorf("main depth after a failure = %v, want the last value 7", got)
			}
			if got := depth(m, QueueDeadLetter, StateVisible); got != 4 {
				t.Errorf("dead-letter depth after a failure = %v, want the last value 4", got)
			}
		})
	}
}

// Run keeps sampling through failures, logs them, and returns only when
// its context ends.
func TestRunKeepsSamplingThroughFailures(t *testing.T) {
	f := newFake()
	f.attrsErr = errors.New("throttled")
	f.called = make(chan struct{})
	logs := &testkit.Buffer{}
	m := NewMetrics(prometheus.NewRegistry(), "t")
	s := New(f, "https://q/main", m, Options{Interval: time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	for i := range 3 {
		select {
		case <-f.called:
		case <-time.After(10 * time.Second):
			t.Fatalf("sample %d never came", i+1)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := testutil.ToFloat64(m.SampleErrors.WithLabelValues(QueueMain)); got < 2 {
		t.Errorf("sample errors = %v, want every failed sample counted", got)
	}
	if !strings.Contains(logs.String(), "queue depth sample failed") || !strings.Contains(logs.String(), "throttled") {
		t.Errorf("failures not logged:\n%s", logs)
	}
}

func TestRunWithoutIntervalIsOff(t *testing.T) {
	f := newFake()
	s := New(f, "https://q/main", NewMetrics(prometheus.NewRegistry(), "t"), Options{})
	s.Run(context.Background()) // returns at once, or the test times out
	if f.attrsCalls != 0 {
		t.Errorf("%d samples with sampling off", f.attrsCalls)
	}
}
