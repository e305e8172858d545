package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/libs/message"
)

// Every test here runs in a synctest bubble: time is fake and advances
// only when every goroutine is blocked, so "after 95 s" is exact and no
// test sleeps for real.

func TestStoresAndDeletesAValidMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeQueue(msg("m-1", validBody)), newFakeStore(), nil, defaultOptions())
		synctest.Wait()

		key := "messages/2024/03/09/m-1.json"
		body, ok := r.s.Objects()[key]
		if !ok {
			t.Fatalf("objects %v, want %s (dated by SentTimestamp, not the clock)", r.s.Objects(), key)
		}
		var doc message.Stored
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		want := message.Stored{
			SchemaVersion: message.SchemaVersion,
			MessageID:     "m-1",
			RequestID:     "req-m-1",
			SentAt:        sent,
			StoredAt:      time.Now().UTC(),
			ReceiveCount:  1,
			Data: message.Data{EmailSubject: "Hello", EmailSender: "ann@example.com",
				EmailTimestream: "1693561101", EmailContent: "Hi <b>there</b> & bye"},
		}
		if doc != want {
			t.Errorf("stored\n%+v\nwant\n%+v", doc, want)
		}
		if strings.Contains(string(body), `\u003c`) {
			t.Errorf("stored text was HTML-escaped: %s", body)
		}
		if got := r.d.Entries(); len(got) != 1 || got[0].ReceiptHandle != "rh-m-1" || got[0].MessageID != "m-1" || got[0].RequestID != "req-m-1" {
			t.Errorf("deletes %+v", got)
		}
		if testutil.ToFloat64(r.m.Received) != 1 || testutil.ToFloat64(r.m.Stored) != 1 ||
			testutil.CollectAndCount(r.m.MessageAge) != 1 || testutil.CollectAndCount(r.m.PutDuration) != 1 {
			t.Errorf("metrics: received %v stored %v", testutil.ToFloat64(r.m.Received), testutil.ToFloat64(r.m.Stored))
		}
		assertEveryMessageLine(t, r.logs.String())
		if !strings.Contains(r.logs.String(), `"msg":"message stored"`) {
			t.Errorf("no stored line:\n%s", r.logs)
		}
	})
}

// assertEveryMessageLine checks that every log line naming a message also
// carries its request id, so one grep finds the message's whole story.
func assertEveryMessageLine(t *testing.T, logs string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		id, ok := rec["message_id"].(string)
		if !ok {
			continue
		}
		n++
		if reqID, _ := rec["request_id"].(string); !strings.HasPrefix(reqID, "req-") {
			t.Errorf("line about %s lacks its request id: %s", id, line)
		}
	}
	if n == 0 {
		t.Errorf("no log line names a message:\n%s", logs)
	}
}

func TestReceiveRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := defaultOptions()
		opts.VisibilityTimeout = 7 * time.Second
		opts.PollInterval = 5 * time.Second
		r := startRig(t, newFakeQueue(), newFakeStore(), nil, opts)
		synctest.Wait()
		rec := r.q.Receives()
		if len(rec) != 1 {
			t.Fatalf("%d receives", len(rec))
		}
		in := rec[0]
		if aws.ToString(in.QueueUrl) != opts.QueueURL || in.MaxNumberOfMessages != 10 ||
			in.WaitTimeSeconds != 5 || in.VisibilityTimeout != 7 ||
			fmt.Sprint(in.MessageSystemAttributeNames) != "[SentTimestamp ApproximateReceiveCount]" ||
			fmt.Sprint(in.MessageAttributeNames) != "[All]" {
			t.Fatalf("request %+v", in)
		}
	})
}

func TestWaitTime(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		0:                       time.Second,
		100 * time.Millisecond:  time.Second,
		1400 * time.Millisecond: time.Second,
		1500 * time.Millisecond: 2 * time.Second,
		10 * time.Second:        10 * time.Second,
		20 * time.Second:        20 * time.Second,
		time.Minute:             20 * time.Second,
	} {
		if got := WaitTime(in); got != want {
			t.Errorf("WaitTime(%v) = %v, want %v", in, got, want)
		}
	}
}

// An invalid message is left for the DLQ: not stored, not deleted, its
// visibility untouched.
func TestInvalidMessageIsNeitherStoredNorDeleted(t *testing.T) {
	noSent := msg("no-sent", validBody)
	delete(noSent.Attributes, "SentTimestamp")
	badSent := msg("bad-sent", validBody)
	badSent.Attributes["SentTimestamp"] = "yesterday"
	zeroSent := msg("zero-sent", validBody)
	zeroSent.Attributes["SentTimestamp"] = "0"
	badSchema := msg("bad-schema", validBody)
	badSchema.MessageAttributes[message.AttrSchemaVersion] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String("2")}
	badID := msg("bad/id", validBody)
	badID.MessageAttributes[message.AttrRequestID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("req-bad-id")}

	cases := []struct {
		name   string
		m      types.Message
		reason string
	}{
		{"malformed JSON", msg("not-json", `{"email_subject":`), "malformed JSON"},
		{"missing fields", msg("missing", `{"email_subject":"s"}`), "email_sender: required"},
		{"token smuggled in", msg("token", `{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c","token":"x"}`), "token: unknown field"},
		{"bad sender", msg("sender", `{"email_subject":"s","email_sender":"nope","email_timestream":"t","email_content":"c"}`), "e-mail address"},
		{"no SentTimestamp", noSent, "SentTimestamp attribute is missing"},
		{"garbled SentTimestamp", badSent, `SentTimestamp \"yesterday\"`},
		{"zero SentTimestamp", zeroSent, `SentTimestamp \"0\"`},
		{"unknown schema version", badSchema, `schema_version \"2\" is not 1`},
		{"message id unfit for a key", badID, "only letters, digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := defaultOptions()
				opts.VisibilityTimeout = 2 * time.Second
				r := startRig(t, newFakeQueue(tc.m), newFakeStore(), nil, opts)
				time.Sleep(time.Minute) // long past any visibility extension
				synctest.Wait()
				if n := r.s.Puts(); n != 0 {
					t.Errorf("%d puts for an invalid message", n)
				}
				if n := len(r.d.Entries()); n != 0 {
					t.Errorf("%d deletes for an invalid message", n)
				}
				if n := len(r.q.Changes()); n != 0 {
					t.Errorf("visibility changed %d times", n)
				}
				if v := testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonInvalid)); v != 1 {
					t.Errorf("failed{invalid} = %v", v)
				}
				logs := r.logs.String()
				if !strings.Contains(logs, `"msg":"message invalid, left for the dead-letter queue"`) ||
					!strings.Contains(logs, tc.reason) {
					t.Errorf("log lacks the reason %q:\n%s", tc.reason, logs)
				}
				assertEveryMessageLine(t, logs)
			})
		})
	}
}

func TestFailedPutIsNotDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(context.Context, string) error { return errors.New("put s3://b/k: AccessDenied") }
		r := startRig(t, newFakeQueue(msg("m-1", validBody)), s, nil, defaultOptions())
		synctest.Wait()
		if s.Puts() != 1 {
			t.Fatalf("%d puts", s.Puts())
		}
		if n := len(r.d.Entries()); n != 0 {
			t.Fatalf("a message whose put failed was queued for deletion")
		}
		if v := testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonPut)); v != 1 {
			t.Errorf("failed{put} = %v", v)
		}
		if testutil.ToFloat64(r.m.Stored) != 0 {
			t.Errorf("stored counted")
		}
		logs := r.logs.String()
		if !strings.Contains(logs, `"level":"ERROR","msg":"store failed, message will be redelivered"`) ||
			!strings.Contains(logs, "AccessDenied") {
			t.Errorf("failure not logged:\n%s", logs)
		}
		assertEveryMessageLine(t, logs)
	})
}

// A put that hangs is given up after PutTimeout: the worker is freed and the
// message, not deleted, comes back for another try.
func TestHungPutIsAbandonedAndNotDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }
		r := startRig(t, newFakeQueue(msg("m-1", validBody)), s, nil, defaultOptions())
		time.Sleep(PutTimeout + time.Second)
		synctest.Wait()
		if v := testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonPut)); v != 1 {
			t.Fatalf("failed{put} = %v, want 1", v)
		}
		if n := len(r.d.Entries()); n != 0 {
			t.Fatal("a message whose put timed out was queued for deletion")
		}
		if v := testutil.ToFloat64(r.m.InFlight); v != 0 {
			t.Errorf("in flight = %v: the worker was not freed", v)
		}
	})
}

// A redelivery (the first delete lost, say) lands on the same key; the
// first write wins and the second delivery counts as stored and is deleted.
func TestRedeliveryIsStoredOnceAndDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := msg("m-1", validBody)
		again := msg("m-1", validBody)
		again.ReceiptHandle = aws.String("rh-m-1-second")
		again.Attributes["ApproximateReceiveCount"] = "2"
		q := newFakeQueue(first)
		q.longPoll = true
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		synctest.Wait()
		r.q.push(again)
		synctest.Wait()

		objects := r.s.Objects()
		if len(objects) != 1 || r.s.Puts() != 2 {
			t.Fatalf("%d objects after %d puts", len(objects), r.s.Puts())
		}
		var doc message.Stored
		_ = json.Unmarshal(objects["messages/2024/03/09/m-1.json"], &doc)
		if doc.ReceiveCount != 1 {
			t.Errorf("object from delivery %d, want the first", doc.ReceiveCount)
		}
		deletes := r.d.Entries()
		if len(deletes) != 2 || deletes[1].ReceiptHandle != "rh-m-1-second" {
			t.Fatalf("deletes %+v, want both deliveries", deletes)
		}
		if testutil.ToFloat64(r.m.Stored) != 2 {
			t.Errorf("stored = %v", testutil.ToFloat64(r.m.Stored))
		}
		if !strings.Contains(r.logs.String(), `"already_stored":true`) {
			t.Errorf("second delivery not logged as already stored:\n%s", r.logs)
		}
	})
}

// Shutdown finishes what it can within SHUTDOWN_TIMEOUT and deletes only
// messages whose object was stored.
func TestShutdownNeverDeletesAMessageWhoseObjectIsMissing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(ctx context.Context, key string) error {
			d := map[string]time.Duration{
				"messages/2024/03/09/fast.json":  0,
				"messages/2024/03/09/grace.json": 3 * time.Second, // finishes inside the grace
				"messages/2024/03/09/stuck.json": time.Hour,       // cannot finish
			}[key]
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		opts := defaultOptions()
		opts.ShutdownTimeout = 5 * time.Second
		q := newFakeQueue(msg("fast", validBody), msg("grace", validBody), msg("stuck", validBody))
		q.longPoll = true
		r := startRig(t, q, s, nil, opts)
		synctest.Wait()

		start := time.Now()
		r.cancel()
		if err := <-r.done; err != nil {
			t.Fatal(err)
		}
		r.done <- nil
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("shutdown took %v, want SHUTDOWN_TIMEOUT", took)
		}
		var deleted []string
		for _, e := range r.d.Entries() {
			deleted = append(deleted, e.MessageID)
		}
		if fmt.Sprint(deleted) != "[fast grace]" {
			t.Fatalf("deleted %v, want only the stored messages", deleted)
		}
		if _, ok := s.Objects()["messages/2024/03/09/stuck.json"]; ok {
			t.Fatal("stuck message stored")
		}
		if v := testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonShutdown)); v != 1 {
			t.Errorf("failed{shutdown} = %v", v)
		}
		if v := testutil.ToFloat64(r.m.InFlight); v != 0 {
			t.Errorf("in flight after stop = %v", v)
		}
		logs := r.logs.String()
		if !strings.Contains(logs, `"msg":"shutdown timeout: abandoning in-flight messages to SQS"`) || !strings.Contains(logs, `"in_flight":1`) {
			t.Errorf("abandonment not logged:\n%s", logs)
		}
		// One receive took the three messages; the loop's next turn,
		// waiting for more free slots or long-polling when the stop came,
		// ended there: nothing was received after the stop.
		if n := len(q.Receives()); n < 1 || n > 2 {
			t.Errorf("%d receives, want the one that took the messages and at most a cancelled one", n)
		}
	})
}

// Shutdown does not wait for the timeout when nothing is in flight, and
// cancels the long poll in progress.
func TestShutdownWhenIdleIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.longPoll = true
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		time.Sleep(3 * time.Second) // mid long poll
		start := time.Now()
		r.stop(t)
		if took := time.Since(start); took != 0 {
			t.Fatalf("idle shutdown took %v", took)
		}
	})
}

func TestVisibilityIsExtendedForSlowMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(_ context.Context, key string) error {
			if strings.Contains(key, "slow") {
				time.Sleep(9 * time.Second)
			}
			return nil
		}
		opts := defaultOptions()
		opts.VisibilityTimeout = 4 * time.Second
		r := startRig(t, newFakeQueue(msg("slow", validBody), msg("quick", validBody)), s, nil, opts)
		time.Sleep(time.Minute)
		synctest.Wait()

		changes := r.q.Changes()
		// Every 2 s while the 9 s put runs: at 2, 4, 6 and 8 s.
		if len(changes) != 4 {
			t.Fatalf("%d extensions, want 4", len(changes))
		}
		for _, c := range changes {
			if aws.ToString(c.ReceiptHandle) != "rh-slow" || c.VisibilityTimeout != 4 || aws.ToString(c.QueueUrl) != opts.QueueURL {
				t.Errorf("extension %+v", c)
			}
		}
		if v := testutil.ToFloat64(r.m.VisibilityExtension); v != 4 {
			t.Errorf("visibility_extensions_total = %v", v)
		}
		if len(r.d.Entries()) != 2 {
			t.Errorf("deletes %+v", r.d.Entries())
		}
	})
}

// A failed extension is tried again well before the visibility runs out.
func TestFailedVisibilityExtensionIsRetriedSooner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(5 * time.Second); return nil }
		q := newFakeQueue(msg("slow", validBody))
		q.changeErr = errors.New("throttled")
		opts := defaultOptions()
		opts.VisibilityTimeout = 4 * time.Second
		r := startRig(t, q, s, nil, opts)
		time.Sleep(time.Minute)
		synctest.Wait()
		// Failures at 2 s, then every 1 s: 2, 3 and 4 s, and 5 s races the
		// put's end; the put finishing at 5 s stops them.
		if n := len(q.Changes()); n < 3 || n > 4 {
			t.Fatalf("%d attempts, want 3 or 4", n)
		}
		if !strings.Contains(r.logs.String(), `"msg":"visibility extension failed"`) {
			t.Errorf("failure not logged:\n%s", r.logs)
		}
		if got, want := testutil.ToFloat64(r.m.VisibilityExtensionErrors), float64(len(q.Changes())); got != want {
			t.Errorf("visibility extension errors = %v, want every failed attempt (%v)", got, want)
		}
		if len(r.d.Entries()) != 1 {
			t.Errorf("message not deleted after a stored put")
		}
	})
}

// Receive errors, including the SDK's flaky "use of closed network
// connection" deserialization failure, are logged and retried with a
// capped backoff: the consumer never stops and never spins.
func TestReceiveErrorsAreSurvived(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue(msg("m-1", validBody))
		q.errs = []error{errFlaky, errFlaky, errors.New("503 Service Unavailable")}
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(r.d.Entries()) != 1 {
			t.Fatalf("message not processed after receive errors")
		}
		if v := testutil.ToFloat64(r.m.ReceiveErrors); v != 3 {
			t.Errorf("receive_errors_total = %v", v)
		}
		if n := strings.Count(r.logs.String(), `"level":"WARN","msg":"receive failed, retrying"`); n != 3 {
			t.Errorf("%d warnings, want 3:\n%s", n, r.logs)
		}
	})
}

func TestReceiveOutageIsNotABusyLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.failAlways = errFlaky
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		time.Sleep(time.Minute)
		synctest.Wait()
		// Backoff doubles from 100 ms to a 5 s cap, each wait jittered to
		// between half and all of it: 9 calls at least, 31 at most.
		n := len(q.Receives())
		if n < 9 || n > 31 {
			t.Fatalf("%d receives in a minute of outage", n)
		}
		q.mu.Lock()
		q.failAlways = nil
		q.mu.Unlock()
		q.push(msg("after", validBody))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(r.d.Entries()) != 1 {
			t.Fatal("no recovery after the outage")
		}
	})
}

// An idle consumer makes at most one receive per POLL_INTERVAL, even when
// the queue answers an empty long poll at once.
func TestIdlePollCadence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		longPoll bool
		run      time.Duration
		want     int
	}{
		{"empty answers at once", 10 * time.Second, false, 95 * time.Second, 10},
		{"long poll is the interval", 10 * time.Second, true, 95 * time.Second, 10},
		{"interval above the 20 s long poll", time.Minute, true, 5*time.Minute + time.Second, 6},
		{"zero interval polls back to back", 0, true, 10*time.Second + time.Millisecond, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := newFakeQueue()
				q.longPoll = tc.longPoll
				opts := defaultOptions()
				opts.PollInterval = tc.interval
				startRig(t, q, newFakeStore(), nil, opts)
				time.Sleep(tc.run)
				synctest.Wait()
				rec := q.Receives()
				if len(rec) != tc.want {
					t.Fatalf("%d receives in %v, want %d", len(rec), tc.run, tc.want)
				}
				if want := int32(WaitTime(tc.interval) / time.Second); rec[0].WaitTimeSeconds != want {
					t.Errorf("WaitTimeSeconds = %d, want %d", rec[0].WaitTimeSeconds, want)
				}
			})
		})
	}
}

// A message that arrives during a long poll is picked up at once, not at
// the next interval.
func TestArrivingMessageIsPickedUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.longPoll = true
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		time.Sleep(3 * time.Second)
		q.push(msg("m-1", validBody))
		synctest.Wait()
		if len(r.d.Entries()) != 1 {
			t.Fatal("message not processed at the instant it arrived")
		}
	})
}

// The pool is bounded: never more puts at once than workers, never more
// messages asked for than free workers.
func TestWorkerPoolIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var msgs []types.Message
		for i := range 25 {
			msgs = append(msgs, msg(fmt.Sprintf("m-%d", i), validBody))
		}
		q := newFakeQueue(msgs...)
		d := &fakeDeleter{}
		q.limit = 3
		q.finished = func() int { return len(d.Entries()) }
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(time.Second); return nil }
		opts := defaultOptions()
		opts.Concurrency = 3
		r := startRig(t, q, s, d, opts)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(r.d.Entries()); n != 25 {
			t.Fatalf("%d of 25 processed", n)
		}
		if s.maxSeen != 3 {
			t.Errorf("%d puts at once, want 3", s.maxSeen)
		}
		if len(q.overAsk) > 0 {
			t.Errorf("asked for more than free workers: %v", q.overAsk)
		}
	})
}

// An endpoint answering with more messages than asked for cannot overrun
// the pool; the extra ones stay with SQS.
func TestMoreMessagesThanAskedForAreLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue(msg("a", validBody), msg("b", validBody), msg("c", validBody))
		q.overflow = 2
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(time.Second); return nil }
		opts := defaultOptions()
		opts.Concurrency = 1
		r := startRig(t, q, s, nil, opts)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(r.d.Entries()); n != 1 {
			t.Fatalf("%d processed, want the 1 asked for", n)
		}
		if !strings.Contains(r.logs.String(), "receive returned more messages than requested") {
			t.Errorf("not logged:\n%s", r.logs)
		}
	})
}

func TestRequestIDAndReceiveCountAreTolerant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := msg("m-1", validBody)
		m.MessageAttributes[message.AttrRequestID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("<script>")}
		m.Attributes["ApproximateReceiveCount"] = "many"
		m2 := msg("m-2", validBody)
		delete(m2.MessageAttributes, message.AttrRequestID)
		m2.MessageAttributes[message.AttrSchemaVersion] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String("1")}
		r := startRig(t, newFakeQueue(m, m2), newFakeStore(), nil, defaultOptions())
		synctest.Wait()
		for _, key := range []string{"messages/2024/03/09/m-1.json", "messages/2024/03/09/m-2.json"} {
			var doc message.Stored
			if err := json.Unmarshal(r.s.Objects()[key], &doc); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if doc.RequestID != "" {
				t.Errorf("%s: request id %q kept", key, doc.RequestID)
			}
		}
		if strings.Contains(r.logs.String(), "<script>") {
			t.Errorf("unsafe request id logged")
		}
	})
}

func TestNewDefaults(t *testing.T) {
	c := New(newFakeQueue(), newFakeStore(), &fakeDeleter{}, Options{})
	if c.log == nil || c.m == nil || c.opts.Concurrency != 1 {
		t.Fatalf("defaults: %+v", c.opts)
	}
}
