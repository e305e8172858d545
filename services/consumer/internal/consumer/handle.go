package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/requestid"
	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
	"github.com/devops-exam/msgpipe/services/consumer/internal/store"
)

// handle stores one message and queues its delete. It returns early,
// leaving the message in SQS, on anything short of a stored object.
func (c *Consumer) handle(ctx context.Context, m types.Message) {
	c.inFlight.Add(1)
	c.m.InFlight.Inc()
	defer c.working()()
	defer func() {
		c.m.InFlight.Dec()
		c.inFlight.Add(-1)
	}()

	sqsID := aws.ToString(m.MessageId)
	reqID := requestID(m)
	if reqID != "" {
		ctx = requestid.NewContext(ctx, reqID)
	}
	log := c.log.With("message_id", sqsID)
	receiveCount := receiveCount(m)

	doc, key, err := decode(m, sqsID, reqID, receiveCount)
	if doc.MessageID != "" && doc.MessageID != sqsID {
		log = c.log.With("message_id", doc.MessageID, "sqs_message_id", sqsID)
	}
	if err != nil {
		// Left alone, with its visibility untouched, the message comes back
		// after the timeout until maxReceiveCount moves it to the DLQ, where
		// someone can look at it.
		c.m.Failed.WithLabelValues(ReasonInvalid).Inc()
		log.WarnContext(ctx, "message invalid, left for the dead-letter queue",
			"reason", err.Error(), "receive_count", receiveCount)
		return
	}

	doc.StoredAt = time.Now().UTC()
	// The document is exactly message.Stored: the E2E check and readers
	// decode it strictly. The copy's SQS MessageId is in the logs.
	body, err := doc.Encode()
	if err != nil { // unreachable for a validated message; kept honest anyway
		c.m.Failed.WithLabelValues(ReasonInvalid).Inc()
		log.ErrorContext(ctx, "message could not be encoded", "error", err)
		return
	}

	stop := c.keepInvisible(ctx, log, aws.ToString(m.ReceiptHandle))
	existed, err := c.put(ctx, log, key, body)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			c.m.Failed.WithLabelValues(ReasonShutdown).Inc()
			log.WarnContext(ctx, "store abandoned at shutdown, message stays in SQS", "key", key, "error", err)
			return
		}
		reason := ReasonPut
		switch {
		case errors.Is(err, store.ErrConflict):
			reason = ReasonConflict
		case errors.Is(err, store.ErrUnavailable):
			c.pause(err)
		}
		c.m.Failed.WithLabelValues(reason).Inc()
		delay := c.releaseDelay(receiveCount)
		log.ErrorContext(ctx, "store failed, message will be redelivered", "key", key, "error", err,
			"retry_in", delay.String(), "receive_count", receiveCount)
		c.release(ctx, log, aws.ToString(m.ReceiptHandle), delay)
		return
	}
	c.m.Stored.Inc()
	c.m.MessageAge.Observe(time.Since(doc.SentAt).Seconds())
	log.InfoContext(ctx, "message stored", "key", key, "already_stored", existed, "receive_count", receiveCount)
	c.del.Add(deleter.Entry{MessageID: doc.MessageID, ReceiptHandle: aws.ToString(m.ReceiptHandle), RequestID: reqID})
}

// put stores body under key within the put timeout, retrying a write that
// conflicts with another one in progress: that one may yet fail, so only
// a 412 from a later try proves the object exists.
func (c *Consumer) put(ctx context.Context, log *slog.Logger, key string, body []byte) (existed bool, err error) {
	pctx, cancel := context.WithTimeout(ctx, c.putTimeout)
	defer cancel()
	backoff := conflictBackoff
	for attempt := 0; ; attempt++ {
		start := time.Now()
		existed, err = c.store.Put(pctx, key, body)
		c.m.PutDuration.Observe(time.Since(start).Seconds())
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt == conflictRetries {
			return existed, err
		}
		log.WarnContext(ctx, "conflicting write in progress, retrying", "key", key, "backoff", backoff.String())
		if !sleep(pctx, jitter(backoff)) {
			return false, err
		}
		backoff *= 2
	}
}

// release makes a message whose put failed visible again after delay,
// instead of a whole visibility timeout. If the call fails the message
// simply comes back later, at the timeout.
func (c *Consumer) release(ctx context.Context, log *slog.Logger, receiptHandle string, delay time.Duration) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout())
	defer cancel()
	_, err := c.queue.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(c.opts.QueueURL),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: int32(delay / time.Second),
	})
	if err != nil {
		log.WarnContext(ctx, "early release failed; the message returns at its visibility timeout", "error", err)
	}
}

// decode re-validates the body and gathers what the stored document needs
// from the message's attributes, with the object key. A message the API
// gave an id and acceptance time is keyed and dated by them, so every copy
// of it lands on one key; one without them (an older producer) by SQS's
// MessageId and SentTimestamp. Either way the key never depends on this
// process's clock: a message without a readable source is invalid rather
// than guessed at.
func decode(m types.Message, sqsID, reqID string, receiveCount int) (doc message.Stored, key string, err error) {
	doc = message.Stored{SchemaVersion: message.SchemaVersion, MessageID: sqsID, RequestID: reqID, ReceiveCount: receiveCount}
	idAttr, hasID := m.MessageAttributes[message.AttrMessageID]
	atAttr, hasAt := m.MessageAttributes[message.AttrAcceptedAt]
	switch {
	case hasID && hasAt:
		id := aws.ToString(idAttr.StringValue)
		key, doc.SentAt, err = message.AssignedKey(id, aws.ToString(atAttr.StringValue))
		if err != nil {
			return doc, "", err
		}
		// The api's id names the message; the SQS id names this copy of
		// it, which is what SQS's own tools and logs show.
		doc.MessageID, doc.SQSMessageID = id, sqsID
	case hasID || hasAt:
		return doc, "", fmt.Errorf("message attributes %s and %s must come together", message.AttrMessageID, message.AttrAcceptedAt)
	default:
		if doc.SentAt, err = sentAt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)]); err != nil {
			return doc, "", err
		}
		if key, err = message.ObjectKey(sqsID, doc.SentAt); err != nil {
			return doc, "", err
		}
	}
	if v, ok := m.MessageAttributes[message.AttrSchemaVersion]; ok {
		if got := aws.ToString(v.StringValue); got != strconv.Itoa(message.SchemaVersion) {
			return doc, "", fmt.Errorf("schema_version %q is not %d", got, message.SchemaVersion)
		}
	}
	if doc.Data, err = message.DecodeData([]byte(aws.ToString(m.Body))); err != nil {
		return doc, "", err
	}
	return doc, key, nil
}

func sentAt(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("SentTimestamp attribute is missing")
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, fmt.Errorf("SentTimestamp %q is not a positive number of milliseconds", v)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// requestID returns the request id the API attached, or "" when there is
// none or it is not one the API could have sent: an id that fails
// requestid.Valid is dropped rather than written to logs and S3.
func requestID(m types.Message) string {
	v, ok := m.MessageAttributes[message.AttrRequestID]
	if !ok {
		return ""
	}
	id := aws.ToString(v.StringValue)
	if !requestid.Valid(id) {
		return ""
	}
	return id
}

// receiveCount is informational only; a missing or garbled value is 0
// rather than a reason to refuse the message.
func receiveCount(m types.Message) int {
	n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// keepInvisible extends the message's visibility every half timeout while
// it is being stored, so a slow put does not hand the message to another
// consumer. The returned stop ends the extensions and waits for the last,
// which takes at most callTimeout.
func (c *Consumer) keepInvisible(ctx context.Context, log *slog.Logger, receiptHandle string) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	vis := c.opts.VisibilityTimeout
	go func() {
		defer close(exited)
		t := time.NewTimer(vis / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// Bounded, so that a hung call can neither hold the worker
			// (stop waits for this goroutine) nor let the message reappear
			// while it waits: the retry comes a quarter timeout later.
			cctx, cancel := context.WithTimeout(ctx, c.callTimeout())
			_, err := c.queue.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(c.opts.QueueURL),
				ReceiptHandle:     aws.String(receiptHandle),
				VisibilityTimeout: int32(vis / time.Second),
			})
			cancel()
			next := vis / 2
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// Try again well before the current timeout runs out.
				next = vis / 4
				c.m.VisibilityExtensionErrors.Inc()
				log.WarnContext(ctx, "visibility extension failed", "error", err)
			} else {
				c.m.VisibilityExtension.Inc()
				log.DebugContext(ctx, "visibility extended", "visibility_timeout", vis.String())
			}
			t.Reset(next)
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
