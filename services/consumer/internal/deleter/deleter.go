// Package deleter removes stored messages from SQS in batches. One
// DeleteMessageBatch call per ten messages instead of ten DeleteMessage
// calls cuts the request bill and the latency a busy consumer spends on
// acknowledgements; a short flush interval keeps a quiet one prompt.
package deleter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/libs/requestid"
)

// MaxBatch is SQS's limit on entries in one DeleteMessageBatch call.
const MaxBatch = 10

// DefaultMaxAttempts bounds how often one entry is tried before it is given
// up; a message left behind is redelivered, found already stored, and
// deleted then, so giving up loses nothing.
const DefaultMaxAttempts = 3

// BatchAPI is the one SQS call the deleter makes.
type BatchAPI interface {
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Entry is one message to delete.
type Entry struct {
	MessageID     string
	ReceiptHandle string
	// RequestID is the API request that produced the message, for logs.
	RequestID string
}

// Options tune a Deleter. Zero values take the defaults.
type Options struct {
	// FlushInterval is the longest an entry waits for a full batch.
	FlushInterval time.Duration
	// MaxAttempts bounds tries per entry (DefaultMaxAttempts).
	MaxAttempts int
	// CallTimeout bounds one DeleteMessageBatch call (10 s).
	CallTimeout time.Duration
	Logger      *slog.Logger
	// Deleted counts messages deleted; Failed counts entries given up.
	Deleted prometheus.Counter
	Failed  prometheus.Counter
}

type pending struct {
	Entry
	attempts int
	// interrupted is set when a call carrying the entry was cancelled by
	// Close: SQS may have deleted the message before the answer was lost.
	interrupted bool
}

// Deleter batches deletes for one queue. Add is safe for concurrent use;
// Run flushes in the background until Close.
type Deleter struct {
	api      BatchAPI
	queueURL string
	opts     Options

	mu      sync.Mutex
	pending []pending
	closed  bool

	full    chan struct{} // a full batch is waiting
	stopped chan struct{}
	final   chan context.Context

	// runCtx carries Run's own calls; Close cancels it so that a call hung
	// on a slow SQS cannot hold the final flush past Close's deadline.
	runCtx    context.Context
	cancelRun context.CancelFunc
}

// New returns a Deleter for queueURL. Call Run, then Close when done.
func New(api BatchAPI, queueURL string, opts Options) *Deleter {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 250 * time.Millisecond
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	return &Deleter{
		api:       api,
		queueURL:  queueURL,
		opts:      opts,
		full:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		final:     make(chan context.Context, 1),
		runCtx:    runCtx,
		cancelRun: cancelRun,
	}
}

// Add queues a message for deletion. It never blocks on SQS. After Close
// it logs and drops the entry: the message stays in SQS and is redelivered.
func (d *Deleter) Add(e Entry) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.logEntry(e, slog.LevelWarn, "delete dropped: deleter closed")
		return
	}
	d.pending = append(d.pending, pending{Entry: e})
	n := len(d.pending)
	d.mu.Unlock()
	if n >= MaxBatch {
		select {
		case d.full <- struct{}{}:
		default:
		}
	}
}

// Pending reports how many entries wait to be sent.
func (d *Deleter) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// Run sends full batches at once and whatever is pending every
// FlushInterval, until Close; then it flushes the rest within Close's
// context. It returns when that final flush is over.
func (d *Deleter) Run() {
	defer close(d.stopped)
	tick := time.NewTicker(d.opts.FlushInterval)
	defer tick.Stop()
	ctx := d.runCtx
	for {
		// The final flush goes first: a ticker that is always ready (a
		// flush slower than the interval) must not keep Close waiting.
		select {
		case fctx := <-d.final:
			d.drain(fctx)
			return
		default:
		}
		select {
		case <-d.full:
			d.flush(ctx, true)
		case <-tick.C:
			d.flush(ctx, false)
		case fctx := <-d.final:
			d.drain(fctx)
			return
		}
	}
}

// Close stops accepting entries and flushes everything pending, retrying
// failed entries until they succeed, run out of attempts or ctx ends. A
// call Run has in flight is cancelled, its entries going into the final
// flush, so Close returns by ctx's deadline. It must be called once, after
// Run has started.
func (d *Deleter) Close(ctx context.Context) {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.final <- ctx
	d.cancelRun()
	<-d.stopped
}

// drain flushes until nothing is pending, backing off briefly between
// rounds so retries of a failing SQS are not a tight loop.
func (d *Deleter) drain(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for d.Pending() > 0 {
		d.flush(ctx, false)
		if d.Pending() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			d.mu.Lock()
			left := d.pending
			d.pending = nil
			d.mu.Unlock()
			for _, p := range left {
				d.giveUp(p, "shutdown deadline passed")
			}
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// flush sends what is pending in batches of MaxBatch; with fullOnly it
// leaves a partial batch for the next tick.
func (d *Deleter) flush(ctx context.Context, fullOnly bool) {
	for {
		d.mu.Lock()
		n := min(len(d.pending), MaxBatch)
		if n == 0 || (fullOnly && n < MaxBatch) {
			d.mu.Unlock()
			return
		}
		batch := append([]pending(nil), d.pending[:n]...)
		d.pending = d.pending[n:]
		d.mu.Unlock()
		retry := d.send(ctx, batch)
		if len(retry) > 0 {
			d.mu.Lock()
			d.pending = append(d.pending, retry...)
			d.mu.Unlock()
			// Retries wait for the next tick rather than spinning here.
			return
		}
	}
}

// send makes one DeleteMessageBatch call and returns the entries worth
// trying again.
func (d *Deleter) send(ctx context.Context, batch []pending) []pending {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, p := range batch {
		entries[i] = types.DeleteMessageBatchRequestEntry{
			Id:            aws.String(strconv.Itoa(i)),
			ReceiptHandle: aws.String(p.ReceiptHandle),
		}
	}
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	out, err := d.api.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(d.queueURL),
		Entries:  entries,
	})
	var retry []pending
	if err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Cancelled by Close, not refused by SQS: the entries go to the
		// final flush without using up an attempt.
		for i := range batch {
			batch[i].interrupted = true
		}
		return batch
	}
	if err != nil {
		d.opts.Logger.Warn("delete batch failed", "error", err, "entries", len(batch))
		for _, p := range batch {
			retry = d.again(retry, p, err.Error())
		}
		return retry
	}
	answered := make([]bool, len(batch))
	for _, ok := range out.Successful {
		if i, found := byID(batch, ok.Id); found && !answered[i] {
			answered[i] = true
			p := batch[i]
			d.logEntry(p.Entry, slog.LevelDebug, "message deleted")
			if d.opts.Deleted != nil {
				d.opts.Deleted.Inc()
			}
		}
	}
	for _, f := range out.Failed {
		i, found := byID(batch, f.Id)
		if !found || answered[i] {
			continue
		}
		answered[i] = true
		p := batch[i]
		reason := fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		if f.SenderFault && p.interrupted && aws.ToString(f.Code) == receiptHandleIsInvalid {
			// The cancelled call most likely deleted it: a deleted message's
			// handle is no longer valid. Should it not have, the message
			// comes back, finds its object stored and is deleted then.
			d.logEntry(p.Entry, slog.LevelInfo, "delete interrupted at shutdown; the receipt handle is no longer valid, so the interrupted call most likely deleted the message", "reason", reason)
			continue
		}
		if f.SenderFault {
			// The request itself is wrong, typically a receipt handle that
			// expired because the message was redelivered; trying the same
			// handle again cannot succeed.
			d.giveUp(p, reason)
			continue
		}
		retry = d.again(retry, p, reason)
	}
	for i, p := range batch {
		if !answered[i] {
			retry = d.again(retry, p, "no result for this entry in the response")
		}
	}
	return retry
}

// receiptHandleIsInvalid is SQS's error code for a receipt handle that
// names no message in flight.
const receiptHandleIsInvalid = "ReceiptHandleIsInvalid"

func (d *Deleter) again(retry []pending, p pending, reason string) []pending {
	p.attempts++
	if p.attempts >= d.opts.MaxAttempts {
		d.giveUp(p, reason)
		return retry
	}
	d.logEntry(p.Entry, slog.LevelWarn, "delete failed, will retry", "reason", reason, "attempt", p.attempts)
	return append(retry, p)
}

func (d *Deleter) giveUp(p pending, reason string) {
	d.logEntry(p.Entry, slog.LevelError, "delete failed, message will be redelivered", "reason", reason, "attempts", p.attempts)
	if d.opts.Failed != nil {
		d.opts.Failed.Inc()
	}
}

func (d *Deleter) logEntry(e Entry, level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if e.RequestID != "" {
		ctx = requestid.NewContext(ctx, e.RequestID)
	}
	d.opts.Logger.Log(ctx, level, msg, append([]any{"message_id", e.MessageID}, args...)...)
}

// byID maps a result entry's Id, which send set to the entry's index, back
// to that index.
func byID(batch []pending, id *string) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	if err != nil || i < 0 || i >= len(batch) {
		return 0, false
	}
	return i, true
}
