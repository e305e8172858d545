package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
	"github.com/devops-exam/msgpipe/services/consumer/internal/store"
)

var errUnavailable = store.ErrUnavailable

var errConflict = fmt.Errorf("put s3://b/k: %w: api error ConditionalRequestConflict", store.ErrConflict)

// A 409 means another write of the key is still running and may fail: the
// put is retried after a short back-off and, while it keeps conflicting,
// the message is left in SQS, never deleted as if stored.
func TestConflictIsRetriedThenLeftForRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(context.Context, string) error { return errConflict }
		r := startRig(t, newFakeQueue(msg("m-1", validBody)), s, nil, defaultOptions())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s.Puts() != 3 {
			t.Errorf("%d puts, want 3 (the first and two retries)", s.Puts())
		}
		if n := len(r.d.Entries()); n != 0 {
			t.Fatal("a message whose put conflicted was queued for deletion")
		}
		if testutil.ToFloat64(r.m.Stored) != 0 {
			t.Error("a conflict was counted as stored")
		}
	})
}

func TestConflictThatClearsIsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		calls := 0
		s.hook = func(context.Context, string) error {
			calls++
			if calls == 1 {
				return errConflict
			}
			return nil
		}
		r := startRig(t, newFakeQueue(msg("m-1", validBody)), s, nil, defaultOptions())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s.Puts() != 2 || len(s.Objects()) != 1 || len(r.d.Entries()) != 1 {
			t.Fatalf("puts %d objects %d deletes %d, want 2 1 1", s.Puts(), len(s.Objects()), len(r.d.Entries()))
		}
	})
}

// A failed put hands the message back to SQS after a back-off of seconds
// that grows with its receive count, rather than a whole visibility
// timeout, and never longer than that timeout.
func TestFailedPutIsReleasedForAnEarlierRetry(t *testing.T) {
	for count, want := range map[string]int32{"1": 2, "2": 4, "3": 8, "4": 16, "5": 30, "40": 30, "": 2} {
		t.Run("receive count "+count, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newFakeStore()
				s.hook = func(context.Context, string) error { return errors.New("put s3://b/k: AccessDenied") }
				m := msg("m-1", validBody)
				m.Attributes["ApproximateReceiveCount"] = count
				q := newFakeQueue(m)
				r := startRig(t, q, s, nil, defaultOptions())
				synctest.Wait()
				ch := q.Changes()
				if len(ch) != 1 || aws.ToString(ch[0].ReceiptHandle) != "rh-m-1" || ch[0].VisibilityTimeout != want {
					t.Fatalf("visibility changes %+v, want one to %d s", ch, want)
				}
				if len(r.d.Entries()) != 0 {
					t.Fatal("deleted")
				}
			})
		})
	}
}

// A ChangeMessageVisibility that never answers must not hold the worker:
// each call is bounded, and the worker is free once its put is done.
func TestHungVisibilityExtensionDoesNotHoldTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue(msg("m-1", validBody))
		hang := make(chan struct{})
		defer close(hang)
		q.changeHook = func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-hang:
			}
		}
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(20 * time.Second); return nil }
		r := startRig(t, q, s, nil, defaultOptions())
		time.Sleep(40 * time.Second)
		synctest.Wait()
		if v := testutil.ToFloat64(r.m.InFlight); v != 0 {
			t.Fatalf("in flight = %v 20 s after the put ended: a hung extension holds the worker", v)
		}
		if len(r.d.Entries()) != 1 {
			t.Fatal("the stored message was not deleted")
		}
	})
}

const apiID = "0190c6a2-7b3e-7c4d-8e5f-0123456789ab"

var accepted = time.Date(2024, 3, 9, 23, 59, 58, 123e6, time.UTC)

// accepted gives m the id and acceptance time the API attaches.
func withAPIAttrs(m types.Message, id, at string) types.Message {
	m.MessageAttributes[message.AttrMessageID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(id)}
	m.MessageAttributes[message.AttrAcceptedAt] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(at)}
	return m
}

// Two copies of one accepted message, as when the SDK sent a batch twice,
// have two SQS MessageIds (and SentTimestamps) but one API id: they land on
// one key, stored once, and both are deleted.
func TestCopiesOfOneAcceptedMessageAreStoredOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := accepted.Format(message.AcceptedAtLayout)
		a := withAPIAttrs(msg("sqs-a", validBody), apiID, at)
		b := withAPIAttrs(msg("sqs-b", validBody), apiID, at)
		b.Attributes["SentTimestamp"] = fmt.Sprint(accepted.Add(48 * time.Hour).UnixMilli())
		s := newFakeStore()
		r := startRig(t, newFakeQueue(a, b), s, nil, defaultOptions())
		synctest.Wait()
		objs := s.Objects()
		key := "messages/2024/03/09/" + apiID + ".json"
		if len(objs) != 1 || objs[key] == nil {
			t.Fatalf("objects %v, want the one key %s", keys(objs), key)
		}
		doc := string(objs[key])
		if !strings.Contains(doc, `"message_id":"`+apiID+`"`) || !strings.Contains(doc, `"sent_at":"2024-03-09T23:59:58.123Z"`) ||
			(!strings.Contains(doc, `"sqs_message_id":"sqs-a"`) && !strings.Contains(doc, `"sqs_message_id":"sqs-b"`)) {
			t.Errorf("stored document %s", doc)
		}
		if len(r.d.Entries()) != 2 {
			t.Fatalf("deletes %+v, want both copies", r.d.Entries())
		}
		for _, e := range r.d.Entries() {
			if e.MessageID != apiID {
				t.Errorf("delete logged as %q, want the API id", e.MessageID)
			}
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A message whose API attributes are present but malformed is invalid: it
// goes the dead-letter queue's way, it is not stored under a guessed key.
func TestMalformedAPIAttributesAreInvalid(t *testing.T) {
	at := accepted.Format(message.AcceptedAtLayout)
	only := msg("m-1", validBody)
	only.MessageAttributes[message.AttrMessageID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(apiID)}
	for name, m := range map[string]types.Message{
		"upper-case id":          withAPIAttrs(msg("m-1", validBody), strings.ToUpper(apiID), at),
		"not a UUIDv7":           withAPIAttrs(msg("m-1", validBody), "4f0c2d7e-0000-4000-8000-000000000000", at),
		"time not UTC":           withAPIAttrs(msg("m-1", validBody), apiID, "2024-03-10T00:59:58.123+01:00"),
		"time garbled":           withAPIAttrs(msg("m-1", validBody), apiID, "soon"),
		"id without the time":    only,
		"attribute with no text": withAPIAttrs(msg("m-1", validBody), apiID, ""),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newFakeStore()
				r := startRig(t, newFakeQueue(m), s, nil, defaultOptions())
				synctest.Wait()
				if s.Puts() != 0 || len(r.d.Entries()) != 0 {
					t.Fatalf("puts %d deletes %d, want neither", s.Puts(), len(r.d.Entries()))
				}
				if v := testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonInvalid)); v != 1 {
					t.Errorf("failed{invalid} = %v", v)
				}
			})
		})
	}
}

// queueModel is SQS as the redrive policy sees it: each receive makes a
// message invisible for the visibility timeout and counts a receive; a
// receive beyond maxReceive moves it to the dead-letter queue instead.
type queueModel struct {
	mu         sync.Mutex
	maxReceive int
	msgs       []*modelMsg
	dlq        []string
	deleted    map[string]bool
}

type modelMsg struct {
	m        types.Message
	count    int
	visible  time.Time
	handle   string
	inDLQ    bool
	isGone   bool
	received []time.Time
}

func newQueueModel(maxReceive int, msgs ...types.Message) *queueModel {
	q := &queueModel{maxReceive: maxReceive, deleted: map[string]bool{}}
	for _, m := range msgs {
		q.msgs = append(q.msgs, &modelMsg{m: m})
	}
	return q
}

func (q *queueModel) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	deadline := time.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		if out := q.take(int(in.MaxNumberOfMessages), time.Duration(in.VisibilityTimeout)*time.Second); len(out) > 0 || !time.Now().Before(deadline) {
			return &sqs.ReceiveMessageOutput{Messages: out}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (q *queueModel) take(n int, vis time.Duration) []types.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var out []types.Message
	for _, mm := range q.msgs {
		if len(out) == n {
			break
		}
		if mm.inDLQ || mm.isGone || now.Before(mm.visible) {
			continue
		}
		if mm.count == q.maxReceive {
			mm.inDLQ = true
			q.dlq = append(q.dlq, aws.ToString(mm.m.MessageId))
			continue
		}
		mm.count++
		mm.visible = now.Add(vis)
		mm.handle = fmt.Sprintf("rh-%s-%d", aws.ToString(mm.m.MessageId), mm.count)
		mm.received = append(mm.received, now)
		m := mm.m
		m.ReceiptHandle = aws.String(mm.handle)
		m.Attributes = map[string]string{}
		for k, v := range mm.m.Attributes {
			m.Attributes[k] = v
		}
		m.Attributes["ApproximateReceiveCount"] = fmt.Sprint(mm.count)
		out = append(out, m)
	}
	return out
}

func (q *queueModel) byHandle(h string) *modelMsg {
	for _, mm := range q.msgs {
		if mm.handle == h && !mm.inDLQ && !mm.isGone {
			return mm
		}
	}
	return nil
}

func (q *queueModel) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if mm := q.byHandle(aws.ToString(in.ReceiptHandle)); mm != nil {
		mm.visible = time.Now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// Add deletes, as the Deleter would.
func (q *queueModel) Add(e deleter.Entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if mm := q.byHandle(e.ReceiptHandle); mm != nil {
		mm.isGone = true
	}
}

func (q *queueModel) state() (dlq []string, left int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, mm := range q.msgs {
		if !mm.inDLQ && !mm.isGone {
			left++
		}
	}
	return append([]string(nil), q.dlq...), left
}

// An S3 outage longer than maxReceiveCount × the visibility timeout is a
// dependency outage, not a bad message: the consumer stops receiving while
// S3 is down, probes it, and resumes, so no good message reaches the DLQ.
// A message that cannot be parsed still goes there.
func TestLongS3OutageSendsNothingToTheDLQ(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxReceive = 5
		opts := defaultOptions() // 30 s visibility: the redrive needs 2.5 min
		outage := 10 * time.Minute
		var msgs []types.Message
		for i := range 30 {
			msgs = append(msgs, msg(fmt.Sprintf("m-%d", i), validBody))
		}
		msgs = append(msgs, msg("bad", `{"email_subject":""}`))
		q := newQueueModel(maxReceive, msgs...)
		s := newFakeStore()
		s3Back := time.Now().Add(outage)
		down := func() error {
			if time.Now().Before(s3Back) {
				return fmt.Errorf("put s3://b/k: %w: dial tcp: connection refused", store.ErrUnavailable)
			}
			return nil
		}
		s.hook = func(context.Context, string) error { return down() }
		s.probe = down
		r := startRigOn(t, q, nil, s, q, opts)

		time.Sleep(time.Minute)
		if v, ok := r.gauge(t, Namespace+"_receiving_paused"); !ok || v != 1 {
			t.Errorf("receiving_paused = %v (exported %v) during the outage, want 1", v, ok)
		}
		if !strings.Contains(r.logs.String(), `"msg":"S3 unavailable: receiving paused"`) {
			t.Errorf("pause not logged:\n%s", r.logs)
		}
		time.Sleep(outage + 10*time.Minute)
		synctest.Wait()
		dlq, left := q.state()
		if len(dlq) != 1 || dlq[0] != "bad" {
			t.Errorf("dead-letter queue %v, want only the invalid message", dlq)
		}
		if left != 0 {
			t.Errorf("%d messages left in the queue", left)
		}
		if n := len(s.Objects()); n != 30 {
			t.Errorf("%d of 30 stored", n)
		}
		if v, _ := r.gauge(t, Namespace+"_receiving_paused"); v != 0 {
			t.Errorf("receiving_paused = %v after S3 came back", v)
		}
		if s.probes < 5 || s.probes > 200 {
			t.Errorf("%d probes over a %v outage: want a back-off, neither none nor a busy loop", s.probes, outage)
		}
	})
}
