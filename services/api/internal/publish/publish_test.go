package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/awsconfig"
	"github.com/devops-exam/msgpipe/libs/message"
)

var sample = message.Data{EmailSubject: "Hi <you>", EmailSender: "a@b.c", EmailTimestream: "1", EmailContent: "body & more"}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

const testTimeout = 10 * time.Second

func TestPublishSendsTheMessageWithItsIDsAsAttributes(t *testing.T) {
	env := kumotest.Start(t)
	ctx := context.Background()
	queueURL := env.Queue(t, nil)
	at := time.Date(2026, 3, 1, 23, 59, 58, 123456789, time.FixedZone("X", 3600))
	reg := prometheus.NewRegistry()
	p, err := New(ctx, env.SQS, queueURL, Options{Registerer: reg, Namespace: "test", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxMessageBytes() != 262144 {
		t.Errorf("MaximumMessageSize read as %d", p.MaxMessageBytes())
	}
	id, err := p.Publish(ctx, sample, "req-7")
	if err != nil || !uuidV7.MatchString(id) {
		t.Fatalf("Publish = %q, %v; want a lower-case UUIDv7", id, err)
	}
	out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	m := out.Messages[0]
	got, err := message.DecodeData([]byte(aws.ToString(m.Body)))
	if err != nil || got != sample {
		t.Errorf("body decodes to %+v, %v", got, err)
	}
	for name, want := range map[string]string{
		message.AttrMessageID:     id,
		message.AttrAcceptedAt:    "2026-03-01T22:59:58.123Z",
		message.AttrRequestID:     "req-7",
		message.AttrSchemaVersion: "1",
	} {
		if v := aws.ToString(m.MessageAttributes[name].StringValue); v != want {
			t.Errorf("attribute %s = %q, want %q", name, v, want)
		}
	}
	if parsed, err := time.Parse(message.AcceptedAtLayout, "2026-03-01T22:59:58.123Z"); err != nil || !parsed.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("accepted_at does not parse back: %v %v", parsed, err)
	}
	if got := testutil.ToFloat64(p.published); got != 1 {
		t.Errorf("published = %v", got)
	}
}

func TestNewNeedsTheQueue(t *testing.T) {
	env := kumotest.Start(t)
	missing := env.URL + "/000000000000/" + kumotest.Name("missing")
	if _, err := New(context.Background(), env.SQS, missing, Options{}); err == nil || !strings.Contains(err.Error(), "MaximumMessageSize") {
		t.Fatalf("got %v", err)
	}
	f := newFake(t, "nonsense")
	if _, err := New(context.Background(), f, "q", Options{}); err == nil || !strings.Contains(err.Error(), "not a size") {
		t.Fatalf("got %v", err)
	}
}

// fakeSQS records SendMessageBatch calls. A call blocks while hold is
// closed-over and not released; answer decides each entry's fate.
type fakeSQS struct {
	t       *testing.T
	maxSize string

	mu       sync.Mutex
	calls    [][]types.SendMessageBatchRequestEntry
	inFlight int
	maxSeen  int

	started chan int      // receives the call's index when a call starts
	release chan struct{} // when non-nil, each call waits for one value
	answer  func(types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry
	callErr func([]types.SendMessageBatchRequestEntry) error
}

func newFake(t *testing.T, maxSize string) *fakeSQS {
	return &fakeSQS{t: t, maxSize: maxSize, started: make(chan int, 1000)}
}

func (f *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"MaximumMessageSize": f.maxSize}}, nil
}

func (f *fakeSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in.Entries)
	n := len(f.calls) - 1
	f.inFlight++
	f.maxSeen = max(f.maxSeen, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	f.started <- n
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.callErr != nil {
		if err := f.callErr(in.Entries); err != nil {
			return nil, err
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if f.answer != nil {
			if fail := f.answer(e); fail != nil {
				fail.Id = e.Id
				out.Failed = append(out.Failed, *fail)
				continue
			}
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("sqs-" + aws.ToString(e.Id))})
	}
	return out, nil
}

func (f *fakeSQS) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	sizes := make([]int, len(f.calls))
	for i, c := range f.calls {
		sizes[i] = len(c)
	}
	return sizes
}

func (f *fakeSQS) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-f.started:
	case <-time.After(testTimeout):
		t.Fatal("no SendMessageBatch call started")
	}
}

func newPublisher(t *testing.T, f *fakeSQS, opt Options) *Publisher {
	t.Helper()
	p, err := New(context.Background(), f, "https://sqs/q", opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	id  string
	err error
}

// publishAsync starts n publishes and waits until each has joined the
// queue of pending messages or a call.
func publishAsync(t *testing.T, p *Publisher, ctx context.Context, n int, content func(i int) string) []chan result {
	t.Helper()
	joined := make(chan struct{}, n)
	p.enqueued = func() { joined <- struct{}{} }
	out := make([]chan result, n)
	for i := range n {
		out[i] = make(chan result, 1)
		d := sample
		if content != nil {
			d.EmailContent = content(i)
		}
		go func() {
			id, err := p.Publish(ctx, d, "")
			out[i] <- result{id, err}
		}()
		select { // one at a time, so the queue's order is the test's
		case <-joined:
		case <-time.After(testTimeout):
			t.Fatal("publish never joined the queue")
		}
	}
	return out
}

func await(t *testing.T, c chan result) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(testTimeout):
		t.Fatal("publish did not return")
		return result{}
	}
}

// A message that arrives while nothing is in flight goes out at once, on
// its own: a quiet api adds no latency.
func TestAQuietPublisherSendsAtOnce(t *testing.T) {
	f := newFake(t, "262144")
	p := newPublisher(t, f, Options{})
	for range 3 {
		if _, err := p.Publish(context.Background(), sample, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 1 1]" {
		t.Fatalf("batches %s, want three calls of one", got)
	}
}

// Messages that arrive while a call is in flight form the next batches,
// at most 10 entries each, and every request gets its own id.
func TestMessagesArrivingDuringACallFormTheNextBatch(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	p := newPublisher(t, f, Options{MaxInFlight: 1})
	first := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	rest := publishAsync(t, p, context.Background(), 13, nil)
	close(f.release)
	ids := map[string]bool{}
	for _, c := range append(first, rest...) {
		r := await(t, c)
		if r.err != nil || !uuidV7.MatchString(r.id) || ids[r.id] {
			t.Fatalf("publish: %q, %v (ids so far %v)", r.id, r.err, ids)
		}
		ids[r.id] = true
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 10 3]" {
		t.Fatalf("batches %s, want [1 10 3]", got)
	}
	if got := testutil.ToFloat64(p.published); got != 14 {
		t.Errorf("published %v", got)
	}
}

// A batch stays within the queue's MaximumMessageSize in all.
func TestBatchesStayWithinTheQueuesSizeLimit(t *testing.T) {
	f := newFake(t, "2000")
	f.release = make(chan struct{})
	p := newPublisher(t, f, Options{MaxInFlight: 1})
	first := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	rest := publishAsync(t, p, context.Background(), 5, func(int) string { return strings.Repeat("x", 700) })
	close(f.release)
	for _, c := range append(first, rest...) {
		if r := await(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 2 2 1]" {
		t.Fatalf("batches %s, want [1 2 2 1]", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, call := range f.calls {
		size := 0
		for _, e := range call {
			size += len(aws.ToString(e.MessageBody))
			for name, v := range e.MessageAttributes {
				size += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
			}
		}
		if size > 2000 {
			t.Errorf("a batch of %d bytes went to a queue that takes 2000", size)
		}
	}
}

// A single message over the queue's limit is refused here, as SQS would
// refuse it: 413 for the client, no call.
func TestAMessageOverTheQueuesLimitIsRefused(t *testing.T) {
	f := newFake(t, "1024")
	reg := prometheus.NewRegistry()
	p := newPublisher(t, f, Options{Registerer: reg, Namespace: "test"})
	d := sample
	d.EmailContent = strings.Repeat("x", 1024)
	_, err := p.Publish(context.Background(), d, "")
	var refused *RefusedError
	if !errors.As(err, &refused) || !refused.TooLarge || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("got %v", err)
	}
	if len(f.batchSizes()) != 0 {
		t.Error("the oversized message was sent")
	}
	if testutil.ToFloat64(p.refused) != 1 || testutil.ToFloat64(p.failed) != 0 {
		t.Error("not counted as refused")
	}
}

// One failed entry fails only its own request, with the status its cause
// calls for.
func TestAFailedEntryFailsOnlyItsRequest(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	f.answer = func(e types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
		switch body := aws.ToString(e.MessageBody); {
		case strings.Contains(body, "refuse-me"):
			return &types.BatchResultErrorEntry{Code: aws.String("InvalidMessageContents"), Message: aws.String("Invalid binary character"), SenderFault: true}
		case strings.Contains(body, "too-long"):
			return &types.BatchResultErrorEntry{Code: aws.String("InvalidParameterValue"), Message: aws.String("Message must be shorter than 1024 bytes."), SenderFault: true}
		case strings.Contains(body, "unlucky"):
			return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: false}
		}
		return nil
	}
	p := newPublisher(t, f, Options{MaxInFlight: 1})
	first := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	contents := []string{"fine", "refuse-me", "fine", "unlucky", "too-long"}
	rest := publishAsync(t, p, context.Background(), len(contents), func(i int) string { return contents[i] })
	close(f.release)
	if r := await(t, first[0]); r.err != nil {
		t.Fatal(r.err)
	}
	for i, c := range rest {
		r := await(t, c)
		var refused *RefusedError
		switch contents[i] {
		case "fine":
			if r.err != nil {
				t.Errorf("%d: a good entry failed with its batch: %v", i, r.err)
			}
		case "refuse-me":
			if !errors.As(r.err, &refused) || refused.TooLarge || refused.Code != "InvalidMessageContents" {
				t.Errorf("content refusal: %v", r.err)
			}
		case "too-long":
			if !errors.As(r.err, &refused) || !refused.TooLarge {
				t.Errorf("size refusal: %v", r.err)
			}
		case "unlucky":
			if r.err == nil || errors.As(r.err, &refused) || !strings.Contains(r.err.Error(), "InternalError") {
				t.Errorf("SQS's fault must be retryable (503): %v", r.err)
			}
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 5]" {
		t.Fatalf("batches %s", got)
	}
	if testutil.ToFloat64(p.published) != 3 || testutil.ToFloat64(p.refused) != 2 || testutil.ToFloat64(p.failed) != 1 {
		t.Errorf("published %v, refused %v, failed %v", testutil.ToFloat64(p.published), testutil.ToFloat64(p.refused), testutil.ToFloat64(p.failed))
	}
}

// When SQS refuses a whole call for its content or size, each entry is
// sent again alone, so only the guilty one fails.
func TestAWholeCallRefusalIsNarrowedToItsEntry(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	f.callErr = func(entries []types.SendMessageBatchRequestEntry) error {
		for _, e := range entries {
			if strings.Contains(aws.ToString(e.MessageBody), "refuse-me") {
				return &smithy.GenericAPIError{Code: "InvalidMessageContents", Message: "Invalid binary character", Fault: smithy.FaultClient}
			}
		}
		return nil
	}
	p := newPublisher(t, f, Options{MaxInFlight: 1})
	first := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	contents := []string{"fine", "refuse-me", "fine"}
	rest := publishAsync(t, p, context.Background(), 3, func(i int) string { return contents[i] })
	for range 5 { // the blocked call, the batch of 3, and 3 single retries
		f.release <- struct{}{}
	}
	await(t, first[0])
	for i, c := range rest {
		r := await(t, c)
		var refused *RefusedError
		if (contents[i] == "fine") != (r.err == nil) || (r.err != nil && !errors.As(r.err, &refused)) {
			t.Errorf("%s: %v", contents[i], r.err)
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 3 1 1 1]" {
		t.Fatalf("batches %s", got)
	}
}

// An SQS outage fails every request in the call with a retryable error.
func TestACallThatFailsFailsItsRequestsRetryably(t *testing.T) {
	f := newFake(t, "262144")
	f.callErr = func([]types.SendMessageBatchRequestEntry) error {
		return &smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "down", Fault: smithy.FaultServer}
	}
	p := newPublisher(t, f, Options{})
	_, err := p.Publish(context.Background(), sample, "")
	var refused *RefusedError
	if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "https://sqs/q") {
		t.Fatalf("got %v", err)
	}
	if testutil.ToFloat64(p.failed) != 1 {
		t.Error("not counted")
	}
}

// While a call is in flight, another starts only for a full batch: fewer
// waiting messages go with the next free call, so calls stay full.
func TestAnotherCallStartsOnlyForAFullBatch(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	p := newPublisher(t, f, Options{MaxInFlight: 3})
	inFlight := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.inFlight
	}
	results := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	results = append(results, publishAsync(t, p, context.Background(), MaxBatchEntries-1, nil)...)
	if n := inFlight(); n != 1 {
		t.Fatalf("%d calls in flight with %d messages waiting, want 1", n, MaxBatchEntries-1)
	}
	results = append(results, publishAsync(t, p, context.Background(), 1, nil)...)
	if n := inFlight(); n != 2 {
		t.Fatalf("%d calls in flight with a full batch waiting, want 2", n)
	}
	f.waitStarted(t)
	close(f.release)
	for _, c := range results {
		if r := await(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 10]" {
		t.Fatalf("batches %s, want [1 10]", got)
	}
}

// twoCallsAndThree starts a call of one message and, since a full batch
// then waits, a second of ten, both held; then three more messages wait.
func twoCallsAndThree(t *testing.T, p *Publisher, f *fakeSQS) []chan result {
	t.Helper()
	results := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	results = append(results, publishAsync(t, p, context.Background(), MaxBatchEntries, nil)...)
	f.waitStarted(t)
	return append(results, publishAsync(t, p, context.Background(), 3, nil)...)
}

// wantOneTenThree waits for every request of twoCallsAndThree and checks
// that the three went out together, in a third call.
func wantOneTenThree(t *testing.T, f *fakeSQS, results []chan result) {
	t.Helper()
	for _, c := range results {
		if r := await(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := fmt.Sprint(f.batchSizes()); got != "[1 10 3]" {
		t.Fatalf("batches %s, want [1 10 3]", got)
	}
}

func (p *Publisher) state() (inFlight, pending int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight, len(p.pending)
}

// A call that finishes while another runs leaves a partial batch to the
// last one, so that both do not go out half full.
func TestAPartialBatchWaitsForTheLastCall(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	clock := time.Unix(1_700_000_000, 0)
	p := newPublisher(t, f, Options{MaxInFlight: 2, Now: func() time.Time { return clock }})
	results := twoCallsAndThree(t, p, f)
	f.release <- struct{}{} // one of the two calls finishes
	testkit.Eventually(t, testTimeout, "the finished call frees its slot", func() (bool, string) {
		inFlight, pending := p.state()
		return inFlight == 1 && pending == 3, fmt.Sprintf("%d in flight, %d pending", inFlight, pending)
	})
	f.release <- struct{}{} // the last call finishes and takes the three
	f.waitStarted(t)
	f.release <- struct{}{}
	wantOneTenThree(t, f, results)
}

// A partial batch that has waited MaxPartialWait goes with the next call
// to finish, last or not: a slow call cannot hold it back.
func TestAPartialBatchDoesNotWaitLong(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	p := newPublisher(t, f, Options{MaxInFlight: 2, Now: now})
	results := twoCallsAndThree(t, p, f)
	mu.Lock()
	clock = clock.Add(MaxPartialWait)
	mu.Unlock()
	f.release <- struct{}{} // one finishes, the other still runs
	f.waitStarted(t)        // and the finished one sends the three at once
	if inFlight, pending := p.state(); inFlight != 2 || pending != 0 {
		t.Fatalf("%d in flight, %d pending; want the three sent by the finished call", inFlight, pending)
	}
	f.release <- struct{}{}
	f.release <- struct{}{}
	wantOneTenThree(t, f, results)
}

// No more than MaxInFlight calls run at once, and nothing is lost waiting.
func TestCallsInFlightAreBounded(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	p := newPublisher(t, f, Options{MaxInFlight: 3})
	results := publishAsync(t, p, context.Background(), 40, nil)
	for range 3 {
		f.waitStarted(t)
	}
	go func() {
		for range 40 { // never more calls than messages
			select {
			case f.release <- struct{}{}:
			case <-time.After(testTimeout):
				return
			}
		}
	}()
	for _, c := range results {
		if r := await(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxSeen != 3 {
		t.Fatalf("%d calls ran at once, want 3", f.maxSeen)
	}
	total := 0
	for _, c := range f.calls {
		total += len(c)
	}
	if total != 40 {
		t.Fatalf("%d entries sent for 40 messages", total)
	}
}

// A request whose client went away leaves the queue: it is not sent, and
// the batch after it does not wait for it.
func TestAnAbandonedRequestNeverBlocksABatch(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{})
	p := newPublisher(t, f, Options{MaxInFlight: 1})
	first := publishAsync(t, p, context.Background(), 1, nil)
	f.waitStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	gone := publishAsync(t, p, ctx, 1, func(int) string { return "gone" })
	cancel()
	if r := await(t, gone[0]); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("abandoned request: %v", r.err)
	}
	live := publishAsync(t, p, context.Background(), 1, func(int) string { return "live" })
	close(f.release)
	for _, c := range []chan result{first[0], live[0]} {
		if r := await(t, c); r.err != nil {
			t.Fatal(r.err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, call := range f.calls {
		for _, e := range call {
			if strings.Contains(aws.ToString(e.MessageBody), "gone") {
				t.Fatal("the abandoned message was sent")
			}
		}
	}
}

// A request gives up when no call answers in time.
func TestPublishGivesUpOnAHungQueue(t *testing.T) {
	f := newFake(t, "262144")
	f.release = make(chan struct{}) // never released
	p := newPublisher(t, f, Options{Timeout: time.Millisecond})
	_, err := p.Publish(context.Background(), sample, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

func TestNewTakesTheDefaults(t *testing.T) {
	p := newPublisher(t, newFake(t, "1024"), Options{})
	if p.timeout != Timeout || p.maxInFlight != DefaultMaxInFlight {
		t.Fatalf("timeout %s, in flight %d", p.timeout, p.maxInFlight)
	}
}

// dropFirstBatchResponse lets SQS handle the first SendMessageBatch, then
// loses its response, as a reset connection would: the SDK sends the same
// request again.
type dropFirstBatchResponse struct {
	next    http.RoundTripper
	dropped atomic.Bool
}

func (d *dropFirstBatchResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := d.next.RoundTrip(req)
	if err == nil && bytes.Contains(body, []byte(`"Entries"`)) && d.dropped.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return resp, err
}

// Every copy of one accepted message carries the same message_id, so the
// consumer stores them all under one key.
func TestABatchTheSDKSendsTwiceCarriesTheSameMessageIDs(t *testing.T) {
	env := kumotest.Start(t)
	env.UseFromEnvironment(t)
	ctx := context.Background()
	queueURL := env.Queue(t, nil)
	cfg, err := awsconfig.Load(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	drop := &dropFirstBatchResponse{next: http.DefaultTransport}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.HTTPClient = &http.Client{Transport: drop}
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	p, err := New(ctx, client, queueURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Publish(ctx, sample, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if !drop.dropped.Load() {
		t.Fatal("no response was dropped")
	}
	var copies []types.Message
	for len(copies) < 2 {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
		if err != nil || len(out.Messages) == 0 {
			t.Fatalf("receive: %v; %d copies so far, want 2", err, len(copies))
		}
		copies = append(copies, out.Messages...)
	}
	if len(copies) != 2 || aws.ToString(copies[0].MessageId) == aws.ToString(copies[1].MessageId) {
		t.Fatalf("%d copies", len(copies))
	}
	for i, m := range copies {
		if got := aws.ToString(m.MessageAttributes[message.AttrMessageID].StringValue); got != id {
			t.Errorf("copy %d (SQS id %s) carries message_id %q, want %q", i, aws.ToString(m.MessageId), got, id)
		}
		if got, want := aws.ToString(m.MessageAttributes[message.AttrAcceptedAt].StringValue), aws.ToString(copies[0].MessageAttributes[message.AttrAcceptedAt].StringValue); got != want {
			t.Errorf("copy %d accepted_at %q, want %q", i, got, want)
		}
	}
}
