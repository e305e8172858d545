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
)

// handle stores one message and queues its delete. It returns early,
// leaving the message in SQS, on anything short of a stored object.
func (c *Consumer) handle(ctx context.Context, m types.Message) {
	c.inFlight.Add(1)
	c.m.InFlight.Inc()
	defer func() {
		c.m.InFlight.Dec()
		c.inFlight.Add(-1)
	}()

	id := aws.ToString(m.MessageId)
	reqID := requestID(m)
	if reqID != "" {
		ctx = requestid.NewContext(ctx, reqID)
	}
	log := c.log.With("message_id", id)
	receiveCount := receiveCount(m)

	doc, err := decode(m, id, reqID, receiveCount)
	if err != nil {
		// Left alone, with its visibility untouched, the message comes back
		// after the timeout until maxReceiveCount moves it to the DLQ, where
		// someone can look at it.
		c.m.Failed.WithLabelValues(ReasonInvalid).Inc()
		log.WarnContext(ctx, "message invalid, left for the dead-letter queue",
			"reason", err.Error(), "receive_count", receiveCount)
		return
	}
	key, err := message.ObjectKey(id, doc.SentAt)
	if err != nil {
		c.m.Failed.WithLabelValues(ReasonInvalid).Inc()
		log.WarnContext(ctx, "message invalid, left for the dead-letter queue",
			"reason", err.Error(), "receive_count", receiveCount)
		return
	}

	stop := c.keepInvisible(ctx, log, aws.ToString(m.ReceiptHandle))
	defer stop()

	doc.StoredAt = time.Now().UTC()
	body, err := doc.Encode()
	if err != nil { // unreachable for a validated message; kept honest anyway
		c.m.Failed.WithLabelValues(ReasonInvalid).Inc()
		log.ErrorContext(ctx, "message could not be encoded", "error", err)
		return
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, c.putTimeout)
	existed, err := c.store.Put(pctx, key, body)
	cancel()
	c.m.PutDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			c.m.Failed.WithLabelValues(ReasonShutdown).Inc()
			log.WarnContext(ctx, "store abandoned at shutdown, message stays in SQS", "key", key, "error", err)
			return
		}
		c.m.Failed.WithLabelValues(ReasonPut).Inc()
		log.ErrorContext(ctx, "store failed, message will be redelivered", "key", key, "error", err)
		return
	}
	c.m.Stored.Inc()
	c.m.MessageAge.Observe(time.Since(doc.SentAt).Seconds())
	log.InfoContext(ctx, "message stored", "key", key, "already_stored", existed, "receive_count", receiveCount)
	c.del.Add(deleter.Entry{MessageID: id, ReceiptHandle: aws.ToString(m.ReceiptHandle), RequestID: reqID})
}

// decode re-validates the body and gathers what the stored document needs
// from the message's attributes. The date in the key must come from SQS's
// SentTimestamp, never this process's clock, so a message without a
// readable one is invalid rather than guessed at.
func decode(m types.Message, id, reqID string, receiveCount int) (message.Stored, error) {
	sent, err := sentAt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)])
	if err != nil {
		return message.Stored{}, err
	}
	if v, ok := m.MessageAttributes[message.AttrSchemaVersion]; ok {
		if got := aws.ToString(v.StringValue); got != strconv.Itoa(message.SchemaVersion) {
			return message.Stored{}, fmt.Errorf("schema_version %q is not %d", got, message.SchemaVersion)
		}
	}
	data, err := message.DecodeData([]byte(aws.ToString(m.Body)))
	if err != nil {
		return message.Stored{}, err
	}
	return message.Stored{
		SchemaVersion: message.SchemaVersion,
		MessageID:     id,
		RequestID:     reqID,
		SentAt:        sent,
		ReceiveCount:  receiveCount,
		Data:          data,
	}, nil
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
// consumer. The returned stop ends the extensions and waits for the last.
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
			_, err := c.queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(c.opts.QueueURL),
				ReceiptHandle:     aws.String(receiptHandle),
				VisibilityTimeout: int32(vis / time.Second),
			})
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
