package deleter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/libs/logging"
)

// fakeSQS records DeleteMessageBatch calls; respond decides each answer
// (nil: every entry succeeds).
type fakeSQS struct {
	mu      sync.Mutex
	calls   [][]string // receipt handles, per call
	respond func(call int, handles []string) (*sqs.DeleteMessageBatchOutput, error)
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	handles := make([]string, len(in.Entries))
	ids := map[string]bool{}
	for i, e := range in.Entries {
		handles[i] = aws.ToString(e.ReceiptHandle)
		ids[aws.ToString(e.Id)] = true
	}
	if len(in.Entries) == 0 || len(in.Entries) > MaxBatch || len(ids) != len(in.Entries) {
		panic(fmt.Sprintf("invalid batch: %d entries, %d distinct ids", len(in.Entries), len(ids)))
	}
	f.mu.Lock()
	f.calls = append(f.calls, handles)
	n := len(f.calls)
	f.mu.Unlock()
	if f.respond != nil {
		return f.respond(n, handles)
	}
	return succeed(in.Entries, nil), nil
}

func (f *fakeSQS) Calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

// succeed answers a batch, failing the entries whose receipt handle is in
// fail with the given fault.
func succeed(entries []types.DeleteMessageBatchRequestEntry, fail map[string]bool, senderFault ...bool) *sqs.DeleteMessageBatchOutput {
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range entries {
		if fail[aws.ToString(e.ReceiptHandle)] {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{
				Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again"),
				SenderFault: len(senderFault) > 0 && senderFault[0],
			})
			continue
		}
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out
}

func entriesOf(handles []string) []types.DeleteMessageBatchRequestEntry {
	out := make([]types.DeleteMessageBatchRequestEntry, len(handles))
	for i, h := range handles {
		out[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(h)}
	}
	return out
}

type harness struct {
	d       *Deleter
	sqs     *fakeSQS
	deleted prometheus.Counter
	failed  prometheus.Counter
	logs    *bytes.Buffer
}

func newHarness(f *fakeSQS, interval time.Duration) *harness {
	h := &harness{
		sqs:     f,
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "deleted"}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "failed"}),
		logs:    &bytes.Buffer{},
	}
	h.d = New(f, "http://sqs/q", Options{
		FlushInterval: interval,
		Logger:        logging.New(h.logs, slog.LevelDebug, "test"),
		Deleted:       h.deleted,
		Failed:        h.failed,
	})
	go h.d.Run()
	return h
}

func (h *harness) add(n int, prefix string) {
	for i := range n {
		h.d.Add(Entry{MessageID: fmt.Sprintf("%s-%d", prefix, i), ReceiptHandle: fmt.Sprintf("%s-rh-%d", prefix, i), RequestID: "req-" + prefix})
	}
}

func sizes(calls [][]string) []int {
	out := make([]int, len(calls))
	for i, c := range calls {
		out[i] = len(c)
	}
	return out
}

func TestFlushesAtTenWithoutWaitingForTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(&fakeSQS{}, time.Hour)
		h.add(9, "a")
		synctest.Wait()
		if n := len(h.sqs.Calls()); n != 0 {
			t.Fatalf("%d calls for 9 entries before the interval", n)
		}
		h.add(1, "b")
		synctest.Wait()
		if got := sizes(h.sqs.Calls()); fmt.Sprint(got) != "[10]" {
			t.Fatalf("batches %v, want one of 10", got)
		}
		h.add(23, "c") // two full batches at once, three wait for the tick
		synctest.Wait()
		if got := sizes(h.sqs.Calls()); fmt.Sprint(got) != "[10 10 10]" {
			t.Fatalf("batches %v", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sizes(h.sqs.Calls()); fmt.Sprint(got) != "[10 10 10 3]" {
			t.Fatalf("batches %v", got)
		}
		h.d.Close(context.Background())
		if v := testutil.ToFloat64(h.deleted); v != 33 {
			t.Fatalf("deleted = %v", v)
		}
	})
}

func TestFlushesOnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(&fakeSQS{}, 250*time.Millisecond)
		h.add(3, "a")
		time.Sleep(249 * time.Millisecond)
		synctest.Wait()
		if n := len(h.sqs.Calls()); n != 0 {
			t.Fatalf("flushed before the interval: %d calls", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := sizes(h.sqs.Calls()); fmt.Sprint(got) != "[3]" {
			t.Fatalf("batches %v", got)
		}
		time.Sleep(10 * time.Second) // idle ticks send nothing
		synctest.Wait()
		if n := len(h.sqs.Calls()); n != 1 {
			t.Fatalf("%d calls while idle", n)
		}
		h.d.Close(context.Background())
		if h.d.Pending() != 0 || testutil.ToFloat64(h.deleted) != 3 {
			t.Fatalf("pending %d, deleted %v", h.d.Pending(), testutil.ToFloat64(h.deleted))
		}
	})
}

func TestRetriesFailedEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{respond: func(call int, handles []string) (*sqs.DeleteMessageBatchOutput, error) {
			if call == 1 { // two entries fail on the first try only
				return succeed(entriesOf(handles), map[string]bool{"a-rh-1": true, "a-rh-3": true}), nil
			}
			return succeed(entriesOf(handles), nil), nil
		}}
		h := newHarness(f, time.Second)
		h.add(5, "a")
		time.Sleep(time.Second)
		synctest.Wait()
		if v := testutil.ToFloat64(h.deleted); v != 3 {
			t.Fatalf("deleted after first flush = %v", v)
		}
		if h.d.Pending() != 2 {
			t.Fatalf("pending = %d, want the 2 failed entries", h.d.Pending())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := h.sqs.Calls()
		if len(calls) != 2 || strings.Join(calls[1], ",") != "a-rh-1,a-rh-3" {
			t.Fatalf("calls %v, want the failed entries retried", calls)
		}
		h.d.Close(context.Background())
		if testutil.ToFloat64(h.deleted) != 5 || testutil.ToFloat64(h.failed) != 0 {
			t.Fatalf("deleted %v failed %v", testutil.ToFloat64(h.deleted), testutil.ToFloat64(h.failed))
		}
		logs := h.logs.String()
		if !strings.Contains(logs, `"msg":"delete failed, will retry"`) ||
			!strings.Contains(logs, `"message_id":"a-1"`) || !strings.Contains(logs, `"request_id":"req-a"`) {
			t.Errorf("retry not logged with message and request id:\n%s", logs)
		}
	})
}

func TestRetriesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{respond: func(_ int, handles []string) (*sqs.DeleteMessageBatchOutput, error) {
			return succeed(entriesOf(handles), map[string]bool{"a-rh-0": true}), nil
		}}
		h := newHarness(f, time.Second)
		h.add(2, "a")
		time.Sleep(time.Minute)
		synctest.Wait()
		tries := 0
		for _, c := range h.sqs.Calls() {
			for _, rh := range c {
				if rh == "a-rh-0" {
					tries++
				}
			}
		}
		if tries != DefaultMaxAttempts {
			t.Fatalf("failing entry tried %d times, want %d", tries, DefaultMaxAttempts)
		}
		if testutil.ToFloat64(h.failed) != 1 || testutil.ToFloat64(h.deleted) != 1 || h.d.Pending() != 0 {
			t.Fatalf("failed %v deleted %v pending %d", testutil.ToFloat64(h.failed), testutil.ToFloat64(h.deleted), h.d.Pending())
		}
		if !strings.Contains(h.logs.String(), `"msg":"delete failed, message will be redelivered"`) {
			t.Errorf("give-up not logged:\n%s", h.logs)
		}
		h.d.Close(context.Background())
	})
}

// A sender fault (an expired receipt handle, typically) cannot succeed on
// a retry with the same handle.
func TestSenderFaultsAreNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{respond: func(_ int, handles []string) (*sqs.DeleteMessageBatchOutput, error) {
			return succeed(entriesOf(handles), map[string]bool{"a-rh-0": true}, true), nil
		}}
		h := newHarness(f, time.Second)
		h.add(1, "a")
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(h.sqs.Calls()); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		if testutil.ToFloat64(h.failed) != 1 {
			t.Fatalf("failed = %v", testutil.ToFloat64(h.failed))
		}
		h.d.Close(context.Background())
	})
}

func TestWholeCallFailureRetriesTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{respond: func(call int, handles []string) (*sqs.DeleteMessageBatchOutput, error) {
			if call == 1 {
				return nil, errors.New("connection reset")
			}
			if call == 2 { // a response that forgets an entry and invents another
				out := succeed(entriesOf(handles[1:]), nil)
				out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: aws.String("99")})
				for i := range out.Successful[:len(handles)-1] {
					out.Successful[i].Id = aws.String(fmt.Sprint(i + 1))
				}
				return out, nil
			}
			return succeed(entriesOf(handles), nil), nil
		}}
		h := newHarness(f, time.Second)
		h.add(4, "a")
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := sizes(h.sqs.Calls()); fmt.Sprint(got) != "[4 4 1]" {
			t.Fatalf("batches %v", got)
		}
		if testutil.ToFloat64(h.deleted) != 4 {
			t.Fatalf("deleted = %v", testutil.ToFloat64(h.deleted))
		}
		h.d.Close(context.Background())
	})
}

func TestCloseFlushesEverythingPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := 0
		f := &fakeSQS{respond: func(call int, handles []string) (*sqs.DeleteMessageBatchOutput, error) {
			if call == 1 {
				fails++
				return nil, errors.New("throttled")
			}
			return succeed(entriesOf(handles), nil), nil
		}}
		h := newHarness(f, time.Hour)
		h.add(5, "a")
		synctest.Wait()
		h.d.Close(context.Background())
		if h.d.Pending() != 0 || testutil.ToFloat64(h.deleted) != 5 || fails != 1 {
			t.Fatalf("pending %d deleted %v", h.d.Pending(), testutil.ToFloat64(h.deleted))
		}
		h.d.Add(Entry{MessageID: "late", ReceiptHandle: "late-rh"})
		if h.d.Pending() != 0 || !strings.Contains(h.logs.String(), "delete dropped: deleter closed") {
			t.Fatalf("an entry added after Close was not dropped")
		}
	})
}

func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{respond: func(int, []string) (*sqs.DeleteMessageBatchOutput, error) {
			return nil, errors.New("SQS is down")
		}}
		h := newHarness(f, time.Hour)
		h.d.opts.MaxAttempts = 1000
		h.add(12, "a")
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		h.d.Close(ctx)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Close took %v with a 2s deadline", took)
		}
		if h.d.Pending() != 0 || testutil.ToFloat64(h.failed) != 12 {
			t.Fatalf("pending %d failed %v", h.d.Pending(), testutil.ToFloat64(h.failed))
		}
	})
}

func TestDefaults(t *testing.T) {
	d := New(&fakeSQS{}, "q", Options{})
	if d.opts.FlushInterval != 250*time.Millisecond || d.opts.MaxAttempts != DefaultMaxAttempts ||
		d.opts.CallTimeout != 10*time.Second || d.opts.Logger == nil {
		t.Fatalf("defaults %+v", d.opts)
	}
}

// A DeleteMessageBatch that hangs (a slow SQS) must not carry Close past
// its deadline: the call in flight when Close comes is cancelled, and the
// final flush runs within Close's context, not the 10 s call timeout.
func TestCloseCancelsASlowCallInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{}, 100)
		f := &slowSQS{started: started}
		d := New(f, "http://sqs/q", Options{FlushInterval: 100 * time.Millisecond, MaxAttempts: 1000})
		go d.Run()
		for i := range 3 {
			d.Add(Entry{MessageID: fmt.Sprint(i), ReceiptHandle: fmt.Sprint("rh-", i)})
		}
		<-started // the ticker's call is in flight and hangs
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		d.Close(ctx)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Close took %v with a 2s deadline", took)
		}
		if d.Pending() != 0 {
			t.Fatalf("%d entries still pending", d.Pending())
		}
	})
}

// slowSQS never answers: every call waits for its context.
type slowSQS struct{ started chan struct{} }

func (s *slowSQS) DeleteMessageBatch(ctx context.Context, _ *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	s.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A call that Close cancels may have deleted its messages before the
// answer was lost; when the final flush then hears ReceiptHandleIsInvalid
// for them, that is the likely reason, not a failure, and it is not logged
// as one. The same answer for an entry whose call was not interrupted
// still is.
func TestInvalidHandleAfterAnInterruptedCallIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &deletesThenHangs{started: make(chan struct{}, 10)}
		failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "failed"})
		logs := &bytes.Buffer{}
		d := New(f, "http://sqs/q", Options{FlushInterval: 100 * time.Millisecond, Failed: failed,
			Logger: logging.New(logs, slog.LevelDebug, "test")})
		go d.Run()
		d.Add(Entry{MessageID: "m-0", ReceiptHandle: "rh-0"})
		<-f.started // SQS deleted m-0; its answer never comes
		d.Add(Entry{MessageID: "m-1", ReceiptHandle: "rh-stale"})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.Close(ctx)
		if v := testutil.ToFloat64(failed); v != 1 {
			t.Errorf("failed = %v, want 1 (m-1 only)", v)
		}
		out := logs.String()
		if !strings.Contains(out, `"msg":"delete interrupted at shutdown`) || !strings.Contains(out, `"message_id":"m-0"`) {
			t.Errorf("m-0 not logged as most likely deleted:\n%s", out)
		}
		if strings.Count(out, `"msg":"delete failed, message will be redelivered"`) != 1 || !strings.Contains(out, `"message_id":"m-1","reason":"ReceiptHandleIsInvalid`) {
			t.Errorf("want exactly m-1 logged as failed:\n%s", out)
		}
	})
}

// deletesThenHangs deletes on its first call and never answers it, as when
// SQS has done the work and the response is cut off; later calls find
// every handle invalid.
type deletesThenHangs struct {
	started chan struct{}
	calls   atomic.Int64
}

func (f *deletesThenHangs) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if f.calls.Add(1) == 1 {
		f.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"),
			Message: aws.String("The receipt handle is not valid"), SenderFault: true})
	}
	return out, nil
}
