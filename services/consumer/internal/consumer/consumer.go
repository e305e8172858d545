// Package consumer moves messages from SQS to S3: several long-polling
// receive loops hand messages to a bounded pool of workers that re-validate
// each one and store it under a key derived from the message, and the SQS
// delete is queued only once the object is stored. Anything that goes wrong
// leaves the message in SQS for a retry or, for a message that cannot be
// stored however often it is tried, the dead-letter queue. While S3 itself
// is down the consumer stops receiving, so an outage does not use up the
// receives of good messages.
package consumer

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
)

// MaxReceive is SQS's limit on messages per ReceiveMessage call.
const MaxReceive = 10

// MaxWait is SQS's limit on a long poll.
const MaxWait = 20 * time.Second

// Backoff after a failed receive: short, because the usual cause is one
// broken connection, and capped, so an outage costs one call every few
// seconds rather than a busy loop.
const (
	receiveBackoffMin = 100 * time.Millisecond
	receiveBackoffMax = 5 * time.Second
)

// receiveSlack is how long a receive may take beyond its long poll before
// it is abandoned as hung.
const receiveSlack = 15 * time.Second

// PutTimeout bounds storing one message, the SDK's retries and the retries
// of a conflicting write included. The SDK's HTTP client has no deadline of
// its own: without this a hung connection would hold a worker, and keep its
// message invisible, forever. A message whose put times out is redelivered.
const PutTimeout = time.Minute

// A 409 ConditionalRequestConflict (another write of the key in progress)
// is retried conflictRetries times, after conflictBackoff, then doubled.
const (
	conflictRetries = 2
	conflictBackoff = 200 * time.Millisecond
)

// releaseBase is how long a message whose put failed stays invisible on its
// first receive; each further receive doubles it, up to the visibility
// timeout: 2, 4, 8, 16 s... A failure usually clears in seconds, and a
// message that keeps failing still reaches the DLQ within minutes.
const releaseBase = 2 * time.Second

// While S3 is unavailable, it is probed with a jittered back-off from
// probeMin doubling to probeMax; each probe gets probeTimeout.
const (
	probeMin     = time.Second
	probeMax     = 30 * time.Second
	probeTimeout = 10 * time.Second
)

// maxCallTimeout caps the bound on one ChangeMessageVisibility call, which
// is otherwise a quarter of the visibility timeout.
const maxCallTimeout = 30 * time.Second

// Health: stalledPeriods receive periods with no receive completed, while a
// receive was due, or every worker busy for PutTimeout plus busyGrace, make
// the consumer unhealthy.
const (
	stalledPeriods = 3
	busyGrace      = 30 * time.Second
)

// Queue is what the consumer needs from SQS itself; deletes go through a
// Deleter so that they can be batched.
type Queue interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Store writes an object unless its key is taken; existed reports that an
// earlier write won. An error wrapping store.ErrConflict is retried; one
// wrapping store.ErrUnavailable pauses receiving until Probe succeeds.
type Store interface {
	Put(ctx context.Context, key string, body []byte) (existed bool, err error)
	Probe(ctx context.Context) error
}

// Deleter accepts stored messages for deletion from SQS.
type Deleter interface {
	Add(deleter.Entry)
}

// Options configure a Consumer. Every field but Logger and Metrics is
// required; config.Load supplies validated values.
type Options struct {
	QueueURL     string
	PollInterval time.Duration
	Concurrency  int
	// Receivers is the number of receive loops sharing the Concurrency
	// worker slots; 0 means 1, and it never exceeds Concurrency.
	Receivers         int
	VisibilityTimeout time.Duration
	ShutdownTimeout   time.Duration
	Logger            *slog.Logger
	// Metrics defaults to a set registered nowhere.
	Metrics *Metrics
}

// Consumer is one queue's receive loop and worker pool.
type Consumer struct {
	queue Queue
	store Store
	del   Deleter
	opts  Options
	log   *slog.Logger
	m     *Metrics

	inFlight   atomic.Int64
	putTimeout time.Duration

	// lastReceive is when a receive last completed or, with a slot free,
	// became due (Unix ns); 0 before Run.
	lastReceive atomic.Int64

	busyMu   sync.Mutex
	busy     map[uint64]time.Time // worker → when it took its message
	nextBusy uint64

	pauseMu sync.Mutex
	paused  bool
	resumed chan struct{} // closed when a pause ends
	bg      sync.WaitGroup
	runCtx  context.Context
}

// New returns a Consumer; Run starts it.
func New(q Queue, s Store, d Deleter, opts Options) *Consumer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	opts.Concurrency = max(opts.Concurrency, 1)
	opts.Receivers = min(max(opts.Receivers, 1), opts.Concurrency)
	return &Consumer{
		queue: q, store: s, del: d, opts: opts, log: opts.Logger, m: opts.Metrics,
		putTimeout: PutTimeout, busy: map[uint64]time.Time{},
	}
}

// WaitTime is the long poll for a poll interval: the interval itself,
// rounded to whole seconds, between 1 s and SQS's 20 s maximum.
func WaitTime(pollInterval time.Duration) time.Duration {
	return min(max(pollInterval.Round(time.Second), time.Second), MaxWait)
}

// Run receives and processes messages until ctx is done. Then it stops
// receiving (cancelling the long poll in progress), gives the messages it
// holds up to ShutdownTimeout to finish, abandons the rest to SQS, and
// returns once every worker has returned. Deletes queued by then are the
// Deleter's to flush.
func (c *Consumer) Run(ctx context.Context) error {
	// Work outlives the stop signal by up to ShutdownTimeout, so it runs
	// under its own context, keeping ctx's values but not its cancellation.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	c.pauseMu.Lock()
	c.runCtx = ctx
	c.pauseMu.Unlock()
	defer c.bg.Wait() // the S3 probe, which ends with ctx
	c.lastReceive.Store(time.Now().UnixNano())

	// The loops share the slots: one worker slot per message, taken before
	// the receive that asks for it, so all of them together never hold
	// more messages than there are workers.
	slots := make(chan struct{}, c.opts.Concurrency)
	// A fixed pool of workers rather than a goroutine per message: the
	// SDK's deep middleware grows every new goroutine's stack from 8 KiB
	// several times over, and copying those stacks cost about a quarter of
	// the consumer's CPU. A slot is taken before a message is received, so
	// a received message always finds a worker free and work never blocks.
	work := make(chan types.Message, c.opts.Concurrency)
	var workers, loops sync.WaitGroup
	for range c.opts.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for m := range work {
				c.handle(workCtx, m)
				<-slots
			}
		}()
	}
	// One loop at a time gathers the slots for its next receive; the
	// others' receives run meanwhile. Gathering in turn, not all at once,
	// lets each receive ask for a full batch under load instead of a
	// share of the freed workers each.
	gather := make(chan struct{}, 1)
	for range c.opts.Receivers {
		loops.Add(1)
		go func() {
			defer loops.Done()
			c.poll(ctx, slots, gather, work)
		}()
	}
	loops.Wait()
	close(work)

	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	timer := time.NewTimer(c.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.log.Warn("shutdown timeout: abandoning in-flight messages to SQS",
			"in_flight", c.inFlight.Load(), "shutdown_timeout", c.opts.ShutdownTimeout.String())
		cancelWork()
		<-done
	}
	return nil
}

// poll is one receive loop. A slot in slots is held by every message from
// the moment it is asked for until its worker returns, so the consumer
// never holds more messages than it has workers. Several loops run at
// once: while one waits on a slow receive, another asks for the slots that
// freed up meanwhile, so a slow SQS does not shrink the batches to the
// few slots free at one instant.
func (c *Consumer) poll(ctx context.Context, slots, gather chan struct{}, work chan<- types.Message) {
	backoff := receiveBackoffMin
	for {
		if !c.waitResumed(ctx) {
			return
		}
		select {
		case gather <- struct{}{}:
		case <-ctx.Done():
			return
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			<-gather
			return
		}
		// A receive is due from the moment a slot is free: /health counts
		// a stall from here, not from a receive that ended before every
		// worker got busy (or before a pause).
		c.lastReceive.Store(time.Now().UnixNano())
		n := c.fill(ctx, slots)
		<-gather
		if n == 0 {
			return
		}
		if c.isPaused() {
			// S3 went down while this loop waited for slots.
			for range n {
				<-slots
			}
			continue
		}

		start := time.Now()
		msgs, err := c.receive(ctx, n)
		c.lastReceive.Store(time.Now().UnixNano())
		for range n - len(msgs) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.m.ReceiveErrors.Inc()
			c.log.Warn("receive failed, retrying", "error", err, "backoff", backoff.String())
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, receiveBackoffMax)
			continue
		}
		backoff = receiveBackoffMin

		c.m.Received.Add(float64(len(msgs)))
		for _, m := range msgs {
			work <- m
		}
		if len(msgs) == 0 {
			// An empty answer before the interval is up (a long poll cut
			// short) must not turn into a faster poll: an idle consumer
			// makes at most one call per interval.
			if !sleep(ctx, c.opts.PollInterval-time.Since(start)) {
				return
			}
		}
	}
}

// receiveLinger is how long a receive loop holding some free slots waits
// for more before it asks SQS. Under load, slots free one put at a time;
// asking at once would fetch one or two messages per ReceiveMessage, each
// call billed like a full one. An idle consumer has all its slots free and
// never waits.
const receiveLinger = 20 * time.Millisecond

// fill takes the slots for one receive: the one already held and every
// other one free now, up to MaxReceive; short of a full batch, it waits up
// to receiveLinger for more to free up. It returns how many slots it holds,
// or 0 (holding none) when ctx ends.
func (c *Consumer) fill(ctx context.Context, slots chan struct{}) int {
	n := 1
	for n < MaxReceive {
		select {
		case slots <- struct{}{}:
			n++
			continue
		default:
		}
		break
	}
	if n == MaxReceive {
		return n
	}
	t := time.NewTimer(receiveLinger)
	defer t.Stop()
	for n < MaxReceive {
		select {
		case slots <- struct{}{}:
			n++
		case <-t.C:
			return n
		case <-ctx.Done():
			for range n {
				<-slots
			}
			return 0
		}
	}
	return n
}

func (c *Consumer) receive(ctx context.Context, n int) ([]types.Message, error) {
	wait := WaitTime(c.opts.PollInterval)
	rctx, cancel := context.WithTimeout(ctx, wait+receiveSlack)
	defer cancel()
	out, err := c.queue.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.opts.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(wait / time.Second),
		VisibilityTimeout:   int32(c.opts.VisibilityTimeout / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, err
	}
	if len(out.Messages) > n {
		// Never more than asked for; a misbehaving endpoint must not
		// overrun the worker pool.
		c.log.Warn("receive returned more messages than requested; extra ones left to SQS",
			"requested", n, "returned", len(out.Messages))
		return out.Messages[:n], nil
	}
	return out.Messages, nil
}

// sleep waits d or until ctx is done, reporting whether the full wait
// passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads retries of several tasks hitting the same outage.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
