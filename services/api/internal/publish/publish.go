// Package publish puts accepted messages on the SQS queue, coalescing
// concurrent requests into SendMessageBatch calls.
//
// Batching is group commit: a message that arrives while no call is in
// flight is sent at once, alone, so a quiet api adds no latency; messages
// that arrive while calls are in flight wait for a call to finish and go
// together, up to 10 entries and the queue's MaximumMessageSize. Calls
// beyond one carry full batches only (see startCallLocked and
// continueLocked), so calls stay full under load instead of splitting it
// between them. Each request still returns only once SQS accepted its own
// entry.
package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/libs/message"
)

// Client is the SQS calls the publisher needs.
type Client interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Timeout bounds one SendMessageBatch, retries included, and a request's
// whole wait for its message to be sent. The SDK's HTTP client has no
// deadline of its own, and a client waiting on a hung connection is better
// served by a prompt 503 it can retry than by the server's write timeout
// cutting it off.
const Timeout = 10 * time.Second

// DefaultMaxInFlight is how many SendMessageBatch calls run at once unless
// Options say otherwise. Calls beyond the first carry only full batches, so
// a higher bound costs no extra calls: with a 5 ms round trip, 4, 8 and 16
// in flight all made 102–106 calls per 1,000 messages. It is the ceiling
// that moves: 10 × calls ÷ SQS's round trip, 16,000 messages/s at 5 ms and
// 4,000 at 20 ms for 8 calls; raise PUBLISH_MAX_IN_FLIGHT when the round
// trip is longer or the load higher (calls ≈ messages/s × round trip ÷ 10).
const DefaultMaxInFlight = 8

// MaxBatchEntries is SQS's limit on entries in one SendMessageBatch.
const MaxBatchEntries = 10

// Options tune a Publisher; zero values take the defaults.
type Options struct {
	// MaxInFlight bounds the SendMessageBatch calls running at once.
	MaxInFlight int
	// Timeout bounds each call and each request's wait (default Timeout).
	Timeout time.Duration
	// Registerer and Namespace place the publisher's metrics; a nil
	// Registerer keeps them unregistered.
	Registerer prometheus.Registerer
	Namespace  string
	// Now and NewID replace the clock and the UUIDv7 generator in tests.
	Now   func() time.Time
	NewID func() (string, error)
}

// RefusedError means SQS refused the message itself, its content or its
// size: sending it again cannot succeed, so the client gets 400 or 413,
// never 503.
type RefusedError struct {
	Code     string // SQS's error code, or MessageTooLong when refused here
	TooLarge bool   // the size, not the content, is at fault
	Reason   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("SQS refuses the message (%s): %s", e.Code, e.Reason)
}

// Publisher sends messages to one queue.
type Publisher struct {
	client      Client
	queueURL    string
	maxBytes    int // the queue's MaximumMessageSize, per message and per batch
	maxInFlight int
	timeout     time.Duration
	now         func() time.Time
	newID       func() (string, error)

	mu           sync.Mutex
	pending      []*entry // waiting for a call, oldest first
	pendingBytes int      // the sizes of pending's entries
	inFlight     int      // calls running

	enqueued func() // test hook: a message joined pending

	published prometheus.Counter
	failed    prometheus.Counter
	refused   prometheus.Counter
	batchSize prometheus.Histogram
}

// entry is one request's message on its way to SQS.
type entry struct {
	queued time.Time // when it joined pending
	id     string
	body   string
	attrs  map[string]types.MessageAttributeValue
	size   int
	state  entryState // guarded by Publisher.mu
	done   chan error // buffered: the sender never waits for the request
}

type entryState int

const (
	statePending entryState = iota
	stateTaken
	stateAbandoned // the request gave up before a call took it
)

// New returns a Publisher for queueURL. It reads the queue's
// MaximumMessageSize once, so that no batch it builds is too large for the
// queue; a queue it cannot read is a start-up error.
func New(ctx context.Context, client Client, queueURL string, opt Options) (*Publisher, error) {
	p := &Publisher{
		client:      client,
		queueURL:    queueURL,
		maxInFlight: opt.MaxInFlight,
		timeout:     opt.Timeout,
		now:         opt.Now,
		newID:       opt.NewID,
		enqueued:    func() {},
	}
	if p.maxInFlight <= 0 {
		p.maxInFlight = DefaultMaxInFlight
	}
	if p.timeout <= 0 {
		p.timeout = Timeout
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.newID == nil {
		p.newID = newUUIDv7
	}
	ns := opt.Namespace
	p.published = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_published_total",
		Help: "Messages SQS accepted."})
	p.failed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "publish_errors_total",
		Help: "Requests that got 503 because SQS failed or did not answer in time."})
	p.refused = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "publish_refused_total",
		Help: "Requests that got 400 or 413 because SQS refuses the message's content or size."})
	p.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "publish_batch_entries",
		Help: "Entries per SendMessageBatch call.", Buckets: prometheus.LinearBuckets(1, 1, MaxBatchEntries)})
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(p.published, p.failed, p.refused, p.batchSize)
	}

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameMaximumMessageSize},
	})
	if err != nil {
		return nil, fmt.Errorf("read MaximumMessageSize of %s: %w", queueURL, err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameMaximumMessageSize)]
	if p.maxBytes, err = strconv.Atoi(raw); err != nil || p.maxBytes <= 0 {
		return nil, fmt.Errorf("read MaximumMessageSize of %s: %q is not a size", queueURL, raw)
	}
	return p, nil
}

// MaxMessageBytes is the queue's MaximumMessageSize, as read by New.
func (p *Publisher) MaxMessageBytes() int { return p.maxBytes }

func newUUIDv7() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new message id: %w", err)
	}
	return id.String(), nil
}

// Publish gives d a message id (a UUIDv7) and an acceptance time, sends it
// with them and the request id as message attributes, and returns the id
// once SQS has accepted it. A *RefusedError means SQS refuses this message
// for good; any other error means it may succeed later.
func (p *Publisher) Publish(ctx context.Context, d message.Data, requestID string) (string, error) {
	id, err := p.publish(ctx, d, requestID)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		p.refused.Inc()
	case err != nil:
		p.failed.Inc()
	}
	return id, err
}

func (p *Publisher) publish(ctx context.Context, d message.Data, requestID string) (string, error) {
	e, err := p.newEntry(d, requestID)
	if err != nil {
		return "", err
	}
	if e.size > p.maxBytes {
		return "", &RefusedError{Code: "MessageTooLong", TooLarge: true,
			Reason: fmt.Sprintf("the message is %d bytes, over the queue's limit of %d bytes", e.size, p.maxBytes)}
	}

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	e.queued = p.now()
	p.mu.Lock()
	p.pending = append(p.pending, e)
	p.pendingBytes += e.size
	var batch []*entry
	if p.startCallLocked() {
		p.inFlight++
		batch = p.takeLocked()
	}
	p.mu.Unlock()
	p.enqueued()
	if batch != nil {
		go p.run(batch)
	}

	select {
	case err := <-e.done:
		if err != nil {
			return "", err
		}
		return e.id, nil
	case <-ctx.Done():
		// A request that gave up before a call took its entry leaves the
		// queue; one already in a call leaves the call to finish alone.
		p.mu.Lock()
		if e.state == statePending {
			e.state = stateAbandoned
		}
		p.mu.Unlock()
		return "", fmt.Errorf("send message to %s: %w", p.queueURL, ctx.Err())
	}
}

func (p *Publisher) newEntry(d message.Data, requestID string) (*entry, error) {
	body, err := d.Encode()
	if err != nil {
		return nil, err
	}
	id, err := p.newID()
	if err != nil {
		return nil, err
	}
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	attrs := map[string]types.MessageAttributeValue{
		message.AttrSchemaVersion: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(message.SchemaVersion))},
		message.AttrMessageID:     str(id),
		message.AttrAcceptedAt:    str(p.now().UTC().Format(message.AcceptedAtLayout)),
	}
	if requestID != "" {
		attrs[message.AttrRequestID] = str(requestID)
	}
	e := &entry{id: id, body: string(body), attrs: attrs, size: len(body), done: make(chan error, 1)}
	// SQS counts attribute names, types and values in a message's size.
	for name, v := range attrs {
		e.size += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
	}
	return e, nil
}

// startCallLocked decides whether the message just queued starts a call of
// its own. With no call in flight it does: a quiet api adds no latency.
// Otherwise only a full batch starts another call; anything less waits for
// a running call to finish, and goes with what else arrived by then. When
// every call slot was taken as soon as it was free, loopback calls carried
// 6.5 entries on average (153 calls per 1,000 messages); this keeps them
// near 10.
func (p *Publisher) startCallLocked() bool {
	switch {
	case p.inFlight == 0:
		return true
	case p.inFlight >= p.maxInFlight:
		return false
	default:
		return p.fullBatchLocked()
	}
}

// fullBatchLocked reports whether pending holds a full batch, by entries or
// by bytes.
func (p *Publisher) fullBatchLocked() bool {
	return len(p.pending) >= MaxBatchEntries || p.pendingBytes >= p.maxBytes
}

// MaxPartialWait bounds how long a partial batch waits for the last call
// in flight while others finish: any call that finishes after that takes
// it. It only matters when calls are slow (SQS retrying), since every call
// that finishes normally brings the wait to an end sooner.
const MaxPartialWait = 2 * time.Millisecond

// continueLocked decides whether a call that just finished sends the next
// batch or frees its slot. It sends a full batch, and a partial one only
// when it is the last call running (so nothing is left behind) or the
// oldest message has waited MaxPartialWait. Finishing calls that took
// whatever was waiting carried 6.9 entries each at 8 calls in flight (144
// calls per 1,000 messages at a 5 ms round trip).
func (p *Publisher) continueLocked() bool {
	switch {
	case len(p.pending) == 0:
		return false
	case p.inFlight == 1, p.fullBatchLocked():
		return true
	default:
		return p.now().Sub(p.pending[0].queued) >= MaxPartialWait
	}
}

// takeLocked removes the next batch from pending: the oldest live entries,
// at most MaxBatchEntries and maxBytes in all. It returns nil when nothing
// is waiting.
func (p *Publisher) takeLocked() []*entry {
	var batch []*entry
	bytes, i := 0, 0
	for ; i < len(p.pending) && len(batch) < MaxBatchEntries; i++ {
		e := p.pending[i]
		if e.state == stateAbandoned {
			p.pendingBytes -= e.size
			continue
		}
		if bytes+e.size > p.maxBytes {
			break
		}
		e.state = stateTaken
		bytes += e.size
		batch = append(batch, e)
	}
	p.pendingBytes -= bytes
	p.pending = p.pending[i:]
	if len(p.pending) == 0 {
		p.pending = nil // let the backing array go
	}
	return batch
}

// run sends batch, then keeps its call slot busy with what arrived in the
// meantime while continueLocked says so, and otherwise frees the slot.
func (p *Publisher) run(batch []*entry) {
	for batch != nil {
		p.send(batch)
		p.mu.Lock()
		batch = nil
		if p.continueLocked() {
			batch = p.takeLocked()
		}
		if batch == nil {
			p.inFlight--
		}
		p.mu.Unlock()
	}
}

// send makes one SendMessageBatch call and hands each entry its own result.
func (p *Publisher) send(batch []*entry) {
	// The call runs on its own context: a request that gives up must not
	// cancel the others' messages.
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       aws.String(e.body),
			MessageAttributes: e.attrs,
		}
	}
	p.batchSize.Observe(float64(len(batch)))
	out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: entries})
	if err != nil {
		var refused *RefusedError
		if r := refusal(err); r != nil {
			if len(batch) > 1 {
				// The call as a whole was refused: find the entry to
				// blame by sending each alone, so that only it fails.
				for _, e := range batch {
					p.send([]*entry{e})
				}
				return
			}
			refused = r
		}
		for _, e := range batch {
			if refused != nil {
				p.finish(e, refused)
			} else {
				p.finish(e, fmt.Errorf("send message batch to %s: %w", p.queueURL, err))
			}
		}
		return
	}
	results := make(map[string]error, len(batch))
	for _, s := range out.Successful {
		if aws.ToString(s.MessageId) != "" {
			results[aws.ToString(s.Id)] = nil
		}
	}
	for _, f := range out.Failed {
		results[aws.ToString(f.Id)] = entryError(p.queueURL, f)
	}
	for i, e := range batch {
		err, ok := results[strconv.Itoa(i)]
		if !ok {
			err = fmt.Errorf("send message batch to %s: SQS reported no result for entry %d", p.queueURL, i)
		}
		p.finish(e, err)
	}
}

func (p *Publisher) finish(e *entry, err error) {
	if err == nil {
		p.published.Inc()
	}
	e.done <- err
}

// entryError turns a failed batch entry into the error its request gets.
func entryError(queueURL string, f types.BatchResultErrorEntry) error {
	code, msg := aws.ToString(f.Code), aws.ToString(f.Message)
	if r := refusalCode(code, msg); r != nil {
		return r
	}
	return fmt.Errorf("send message batch to %s: entry failed: %s: %s (sender fault: %t)", queueURL, code, msg, f.SenderFault)
}

// refusal returns a *RefusedError when err says SQS refuses the content or
// size of what was sent, and nil otherwise.
func refusal(err error) *RefusedError {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return nil
	}
	return refusalCode(api.ErrorCode(), api.ErrorMessage())
}

func refusalCode(code, msg string) *RefusedError {
	switch {
	case strings.HasSuffix(code, "InvalidMessageContents"):
		return &RefusedError{Code: code, Reason: msg}
	case strings.Contains(code, "TooLong"),
		code == "InvalidParameterValue" && strings.Contains(msg, "shorter than"):
		// BatchRequestTooLong, MessageTooLong, or SendMessage's
		// "Message must be shorter than N bytes".
		return &RefusedError{Code: code, TooLarge: true, Reason: msg}
	}
	return nil
}
