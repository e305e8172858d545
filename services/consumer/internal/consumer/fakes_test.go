package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/logging"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
)

const validBody = `{"email_subject":"Hello","email_sender":"ann@example.com","email_timestream":"1693561101","email_content":"Hi <b>there</b> & bye"}`

// sent is the SentTimestamp of test messages: a date far from the fake
// clock's (synctest starts at 2000-01-01), so a key dated by the wrong
// clock shows.
var sent = time.Date(2024, 3, 9, 23, 59, 58, 123e6, time.UTC)

func msg(id, body string) types.Message {
	return types.Message{
		MessageId:     aws.String(id),
		ReceiptHandle: aws.String("rh-" + id),
		Body:          aws.String(body),
		Attributes: map[string]string{
			"SentTimestamp":           strconv.FormatInt(sent.UnixMilli(), 10),
			"ApproximateReceiveCount": "1",
		},
		MessageAttributes: map[string]types.MessageAttributeValue{
			message.AttrRequestID: {DataType: aws.String("String"), StringValue: aws.String("req-" + id)},
		},
	}
}

// fakeQueue is an in-memory SQS: it hands out pushed messages, long-polls
// when asked to, and records every call.
type fakeQueue struct {
	mu       sync.Mutex
	visible  []types.Message
	arrived  chan struct{}
	receives []sqs.ReceiveMessageInput
	changes  []sqs.ChangeMessageVisibilityInput
	// errs are returned by the next receives, one each, before any message.
	errs []error
	// failAlways makes every receive fail.
	failAlways error
	// longPoll makes an empty receive wait WaitTimeSeconds for a message.
	longPoll bool
	// extra messages returned beyond MaxNumberOfMessages.
	overflow int
	// changeErr fails visibility changes while set.
	changeErr error
	// changeHook, if set, runs in each visibility change and may block.
	changeHook func(ctx context.Context)
	// With limit set, each receive checks that the messages handed out and
	// not yet finished, plus those asked for, stay within limit.
	limit    int
	finished func() int
	handed   int
	overAsk  []string
}

func newFakeQueue(msgs ...types.Message) *fakeQueue {
	return &fakeQueue{visible: msgs, arrived: make(chan struct{})}
}

func (q *fakeQueue) push(msgs ...types.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visible = append(q.visible, msgs...)
	close(q.arrived)
	q.arrived = make(chan struct{})
}

func (q *fakeQueue) take(n int) ([]types.Message, chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n+q.overflow, len(q.visible))
	out := append([]types.Message(nil), q.visible[:n]...)
	q.visible = q.visible[n:]
	q.handed += n
	return out, q.arrived
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.receives = append(q.receives, *in)
	if q.limit > 0 {
		if held := q.handed - q.finished(); held+int(in.MaxNumberOfMessages) > q.limit {
			q.overAsk = append(q.overAsk, fmt.Sprintf("asked for %d holding %d", in.MaxNumberOfMessages, held))
		}
	}
	var err error
	if len(q.errs) > 0 {
		err, q.errs = q.errs[0], q.errs[1:]
	} else if q.failAlways != nil {
		err = q.failAlways
	}
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out, arrived := q.take(int(in.MaxNumberOfMessages))
	if len(out) == 0 && q.longPoll {
		t := time.NewTimer(time.Duration(in.WaitTimeSeconds) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("receive: %w", ctx.Err())
		case <-t.C:
		case <-arrived:
			out, _ = q.take(int(in.MaxNumberOfMessages))
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (q *fakeQueue) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	q.changes = append(q.changes, *in)
	hook := q.changeHook
	q.mu.Unlock()
	if hook != nil {
		hook(ctx)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.changeErr != nil {
		return nil, q.changeErr
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *fakeQueue) Receives() []sqs.ReceiveMessageInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]sqs.ReceiveMessageInput(nil), q.receives...)
}

func (q *fakeQueue) Changes() []sqs.ChangeMessageVisibilityInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]sqs.ChangeMessageVisibilityInput(nil), q.changes...)
}

// fakeStore keeps objects in memory, first write wins. hook, if set, runs
// before each put and may delay it or fail it.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	active  int
	maxSeen int
	hook    func(ctx context.Context, key string) error
	// probe, if set, answers Probe; nil means S3 answers.
	probe  func() error
	probes int
}

func (s *fakeStore) Probe(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probes++
	if s.probe != nil {
		return s.probe()
	}
	return nil
}

func newFakeStore() *fakeStore { return &fakeStore{objects: map[string][]byte{}} }

func (s *fakeStore) Put(ctx context.Context, key string, body []byte) (bool, error) {
	s.mu.Lock()
	s.puts++
	s.active++
	s.maxSeen = max(s.maxSeen, s.active)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()
	if s.hook != nil {
		if err := s.hook(ctx, key); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return true, nil
	}
	s.objects[key] = append([]byte(nil), body...)
	return false, nil
}

func (s *fakeStore) Objects() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.objects))
	for k, v := range s.objects {
		out[k] = v
	}
	return out
}

func (s *fakeStore) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// fakeDeleter records the entries the consumer queues for deletion.
type fakeDeleter struct {
	mu      sync.Mutex
	entries []deleter.Entry
}

func (d *fakeDeleter) Add(e deleter.Entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = append(d.entries, e)
}

func (d *fakeDeleter) Entries() []deleter.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]deleter.Entry(nil), d.entries...)
}

// rig runs a Consumer over fakes; stop cancels it and waits for Run.
type rig struct {
	q      *fakeQueue
	s      *fakeStore
	d      *fakeDeleter
	c      *Consumer
	m      *Metrics
	reg    *prometheus.Registry
	logs   *testkit.Buffer
	cancel context.CancelFunc
	done   chan error
}

func defaultOptions() Options {
	return Options{
		QueueURL:          "http://sqs.test/000000000000/q",
		PollInterval:      10 * time.Second,
		Concurrency:       10,
		VisibilityTimeout: 30 * time.Second,
		ShutdownTimeout:   25 * time.Second,
	}
}

func startRig(t *testing.T, q *fakeQueue, s *fakeStore, d *fakeDeleter, opts Options) *rig {
	t.Helper()
	var dd Deleter
	if d != nil {
		dd = d
	}
	return startRigOn(t, q, q, s, dd, opts)
}

// gauge reads a metric of the rig's registry by its full name; ok is false
// when there is no such metric.
func (r *rig) gauge(t *testing.T, name string) (v float64, ok bool) {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// startRigOn is startRig for any Queue; q may be nil when queue is not a
// fakeQueue.
func startRigOn(t *testing.T, queue Queue, q *fakeQueue, s *fakeStore, d Deleter, opts Options) *rig {
	t.Helper()
	fd, _ := d.(*fakeDeleter)
	if d == nil {
		fd = &fakeDeleter{}
		d = fd
	}
	reg := prometheus.NewRegistry()
	r := &rig{q: q, s: s, d: fd, m: NewMetrics(reg), reg: reg, logs: &testkit.Buffer{}, done: make(chan error, 1)}
	opts.Logger = logging.New(r.logs, slog.LevelDebug, "consumer")
	opts.Metrics = r.m
	r.c = New(queue, s, d, opts)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *rig) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	r.done <- nil // later stops return at once
}

var errFlaky = errors.New("operation error SQS: ReceiveMessage, https response error StatusCode: 200, deserialization failed, failed to decode response body, read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")
