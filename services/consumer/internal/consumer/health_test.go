package consumer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func healthOf(t *testing.T, c *Consumer) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	c.HealthHandler(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, strings.TrimSpace(string(body))
}

// hangingQueue's receives never return, whatever their context says: a
// client wedged below the SDK's deadline handling.
type hangingQueue struct {
	fakeQueue
	release chan struct{}
}

func (q *hangingQueue) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	<-q.release
	return &sqs.ReceiveMessageOutput{}, nil
}

// A consumer whose receives stopped completing, while it had free workers
// to receive for, reports unhealthy so that ECS replaces it.
func TestHealthFailsWhenNoReceiveCompletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &hangingQueue{fakeQueue: *newFakeQueue(), release: make(chan struct{})}
		r := startRigOn(t, q, nil, newFakeStore(), nil, defaultOptions())
		defer close(q.release)
		synctest.Wait()
		if code, body := healthOf(t, r.c); code != http.StatusOK {
			t.Fatalf("at start: %d %s", code, body)
		}
		time.Sleep(70 * time.Second) // under 3 × (10 s poll + 15 s slack)
		if code, body := healthOf(t, r.c); code != http.StatusOK {
			t.Fatalf("after 70 s: %d %s", code, body)
		}
		time.Sleep(10 * time.Second)
		code, body := healthOf(t, r.c)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"no receive completed for 1m20s"`) {
			t.Fatalf("after 80 s: %d %s", code, body)
		}
	})
}

// A consumer that only long-polls an empty queue is healthy however long
// it stays idle.
func TestHealthStaysOKWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		q.longPoll = true
		r := startRig(t, q, newFakeStore(), nil, defaultOptions())
		time.Sleep(time.Hour)
		if code, body := healthOf(t, r.c); code != http.StatusOK || body != `{"status":"ok"}` {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// Every worker held past its put timeout (a put that ignores its
// deadline) is unhealthy; workers busy within it are not.
func TestHealthFailsWhenEveryWorkerIsStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unblock := make(chan struct{})
		s := newFakeStore()
		s.hook = func(context.Context, string) error { <-unblock; return nil }
		opts := defaultOptions()
		opts.Concurrency = 2
		r := startRig(t, newFakeQueue(msg("a", validBody), msg("b", validBody)), s, nil, opts)
		defer close(unblock)
		time.Sleep(PutTimeout)
		if code, body := healthOf(t, r.c); code != http.StatusOK {
			t.Fatalf("within the put timeout: %d %s", code, body)
		}
		time.Sleep(busyGrace + time.Second)
		code, body := healthOf(t, r.c)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "all 2 workers busy for over 1m30s") {
			t.Fatalf("past the put timeout: %d %s", code, body)
		}
	})
}

// A pause for an S3 outage receives nothing on purpose: healthy, since a
// new task would meet the same S3.
func TestHealthStaysOKWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newFakeStore()
		down := fmt.Errorf("put: %w", errUnavailable)
		s.hook = func(context.Context, string) error { return down }
		s.probe = func() error { return down }
		q := newFakeQueue(msg("a", validBody))
		r := startRig(t, q, s, nil, defaultOptions())
		time.Sleep(10 * time.Minute)
		if !r.c.isPaused() {
			t.Fatal("not paused")
		}
		if code, body := healthOf(t, r.c); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// slowQueue answers every receive after latency, with up to the number of
// messages asked for, and records how many receives were in flight at once.
type slowQueue struct {
	fakeQueue
	latency time.Duration
	mu      sync.Mutex
	now     int
	most    int
}

func (q *slowQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.now++
	q.most = max(q.most, q.now)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.now--
		q.mu.Unlock()
	}()
	select {
	case <-time.After(q.latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return q.fakeQueue.ReceiveMessage(ctx, in, o...)
}

// Several receive loops share the workers: with a slow SQS and more workers
// than one receive can fill, their receives are in flight at once, every
// message is stored, and together they never ask for more messages than
// there are free workers.
func TestReceiversShareTheWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var msgs []types.Message
		for i := range 100 {
			msgs = append(msgs, msg(fmt.Sprintf("m-%d", i), validBody))
		}
		d := &fakeDeleter{}
		q := &slowQueue{fakeQueue: *newFakeQueue(msgs...), latency: 2 * time.Second}
		q.limit = 30
		q.finished = func() int { return len(d.Entries()) }
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(100 * time.Millisecond); return nil }
		opts := defaultOptions()
		opts.Concurrency = 30
		opts.Receivers = 3
		r := startRigOn(t, q, nil, s, d, opts)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(r.d.Entries()); n != 100 {
			t.Fatalf("%d of 100 stored", n)
		}
		if q.most != 3 {
			t.Errorf("%d receives in flight at most, want 3", q.most)
		}
		if s.maxSeen > 30 {
			t.Errorf("%d puts at once with 30 workers", s.maxSeen)
		}
		if len(q.overAsk) > 0 {
			t.Errorf("asked for more than free workers: %v", q.overAsk)
		}
	})
}

// Receivers is at least one and at most the worker count.
func TestReceiversAreBounded(t *testing.T) {
	for _, tc := range []struct{ workers, receivers, want int }{{10, 0, 1}, {10, 3, 3}, {2, 5, 2}} {
		c := New(newFakeQueue(), newFakeStore(), &fakeDeleter{}, Options{Concurrency: tc.workers, Receivers: tc.receivers})
		if c.opts.Receivers != tc.want {
			t.Errorf("%d workers, %d receivers: got %d, want %d", tc.workers, tc.receivers, c.opts.Receivers, tc.want)
		}
	}
}

// Workers busy for a long time (within the put timeout) leave no slot to
// receive for; when one frees up, the long poll it starts is a receive due
// from that moment, not from the last one that completed.
func TestHealthStaysOKAfterALongBusySpell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue(msg("a", validBody))
		q.longPoll = true
		s := newFakeStore()
		s.hook = func(context.Context, string) error { time.Sleep(55 * time.Second); return nil }
		opts := defaultOptions()
		opts.Concurrency = 1
		opts.PollInterval = time.Second // 3 × (1 s + 15 s) = 48 s
		r := startRig(t, q, s, nil, opts)
		time.Sleep(55*time.Second + 500*time.Millisecond) // the put is done, a long poll runs
		if code, body := healthOf(t, r.c); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// Under load, slots free one put at a time. A receive loop gathers those
// freed within receiveLinger before it asks, so each ReceiveMessage (billed
// alike whatever it returns) fetches several messages, not one. Puts here
// end 1 ms apart.
func TestReceivesGatherFreedSlotsUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var msgs []types.Message
		for i := range 200 {
			msgs = append(msgs, msg(fmt.Sprintf("m-%d", i), validBody))
		}
		q := newFakeQueue(msgs...)
		s := newFakeStore()
		var mu sync.Mutex
		n := 0
		s.hook = func(context.Context, string) error {
			mu.Lock()
			n++
			d := time.Duration(n%10+1) * time.Millisecond
			mu.Unlock()
			time.Sleep(d)
			return nil
		}
		opts := defaultOptions()
		opts.Receivers = 1
		r := startRig(t, q, s, nil, opts)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := len(r.d.Entries()); got != 200 {
			t.Fatalf("%d of 200 stored", got)
		}
		var asked []int32
		for _, in := range q.Receives() {
			asked = append(asked, in.MaxNumberOfMessages)
		}
		// 200 messages, 10 at a time: 20 receives that return messages,
		// and the long polls of an empty queue after them.
		full := 0
		for _, a := range asked {
			if a == MaxReceive {
				full++
			}
		}
		if full < 15 {
			t.Errorf("receives asked for %v: want nearly all for %d", asked, MaxReceive)
		}
	})
}
