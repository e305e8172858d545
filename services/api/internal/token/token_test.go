package token

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSource answers with value/err and counts calls. When gate is set,
// each call waits for it.
type fakeSource struct {
	mu    sync.Mutex
	value string
	err   error
	calls atomic.Int64
	gate  chan struct{}
}

func (f *fakeSource) Fetch(ctx context.Context) (string, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.value, f.err
}

func (f *fakeSource) set(v string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value, f.err = v, err
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	src   *fakeSource
	clk   *clock
	cache *Cache
	m     *Metrics
	logs  *bytes.Buffer
}

func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	f := &fixture{
		src:  &fakeSource{value: "s3cret-token"},
		clk:  &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		m:    NewMetrics(prometheus.NewRegistry(), "test"),
		logs: &bytes.Buffer{},
	}
	opt.Now, opt.Metrics = f.clk.Now, f.m
	opt.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	if opt.TTL == 0 {
		opt.TTL = 5 * time.Minute
	}
	f.cache = New(f.src, opt)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), "s3cret") {
			t.Errorf("a token reached the logs:\n%s", f.logs)
		}
	})
	return f
}

func (f *fixture) check(t *testing.T, tok string) (bool, error) {
	t.Helper()
	return f.cache.Check(context.Background(), tok)
}

func mustAccept(t *testing.T, f *fixture, tok string) {
	t.Helper()
	ok, err := f.check(t, tok)
	if err != nil || !ok {
		t.Fatalf("Check(%q) = %v, %v; want accepted", tok, ok, err)
	}
}

func TestCachesForTheTTL(t *testing.T) {
	f := newFixture(t, Options{})
	mustAccept(t, f, "s3cret-token")
	f.clk.Advance(5*time.Minute - time.Nanosecond)
	mustAccept(t, f, "s3cret-token")
	if got := f.src.calls.Load(); got != 1 {
		t.Fatalf("SSM calls within the TTL = %d, want 1", got)
	}
	f.clk.Advance(time.Nanosecond)
	mustAccept(t, f, "s3cret-token")
	if got := f.src.calls.Load(); got != 2 {
		t.Fatalf("SSM calls after the TTL = %d, want 2", got)
	}
	if hits, misses := testutil.ToFloat64(f.m.Hits), testutil.ToFloat64(f.m.Misses); hits != 1 || misses != 2 {
		t.Fatalf("hits %v misses %v, want 1 and 2", hits, misses)
	}
}

func TestWrongAndEmptyTokensAreRejected(t *testing.T) {
	f := newFixture(t, Options{})
	for _, tok := range []string{"", "wrong", "s3cret-token ", "S3CRET-TOKEN", "s3cret-toke"} {
		ok, err := f.check(t, tok)
		if ok || err != nil {
			t.Errorf("Check(%q) = %v, %v; want rejected without error", tok, ok, err)
		}
	}
	if got := f.src.calls.Load(); got != 1 {
		t.Fatalf("SSM calls = %d, want 1 (the empty token needs none)", got)
	}
}

func TestConcurrentMissesShareOneSSMCall(t *testing.T) {
	f := newFixture(t, Options{})
	f.src.gate = make(chan struct{})
	const n = 64
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := f.cache.Check(context.Background(), "s3cret-token"); ok && err == nil {
				accepted.Add(1)
			}
		}()
	}
	// Every checker counts its miss before it waits on the shared call.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(f.m.Misses) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %v of %d checkers reached the cache", testutil.ToFloat64(f.m.Misses), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(f.src.gate)
	wg.Wait()
	if got := f.src.calls.Load(); got != 1 {
		t.Fatalf("SSM calls = %d, want 1", got)
	}
	if accepted.Load() != n {
		t.Fatalf("accepted %d of %d", accepted.Load(), n)
	}
}

func TestFailsClosedWithoutAGoodValue(t *testing.T) {
	f := newFixture(t, Options{StaleMax: 15 * time.Minute})
	f.src.set("", errors.New("AccessDeniedException: not authorized"))
	ok, err := f.check(t, "s3cret-token")
	if ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Check = %v, %v; want rejected with ErrUnavailable", ok, err)
	}
	if !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Errorf("cause lost: %v", err)
	}
	if got := testutil.ToFloat64(f.m.RefreshErrors); got != 1 {
		t.Errorf("refresh errors = %v", got)
	}
	// Each refused check is one 503 "authentication unavailable".
	if got := testutil.ToFloat64(f.m.Unavailable); got != 1 {
		t.Errorf("unavailable = %v, want 1", got)
	}
	if !strings.Contains(f.logs.String(), "rejecting requests") {
		t.Errorf("no error log:\n%s", f.logs)
	}
}

func TestAnEmptyParameterIsNotAToken(t *testing.T) {
	f := newFixture(t, Options{})
	f.src.set("", nil)
	ok, err := f.check(t, "anything")
	if ok || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Check = %v, %v", ok, err)
	}
}

func TestServesStaleForAtMostStaleMax(t *testing.T) {
	f := newFixture(t, Options{StaleMax: 15 * time.Minute, RetryBackoff: 5 * time.Second})
	mustAccept(t, f, "s3cret-token")
	f.src.set("", errors.New("ThrottlingException"))

	f.clk.Advance(5 * time.Minute) // expired: SSM fails, stale value serves
	mustAccept(t, f, "s3cret-token")
	if got := testutil.ToFloat64(f.m.StaleServes); got != 1 {
		t.Fatalf("stale serves = %v, want 1", got)
	}
	if !strings.Contains(f.logs.String(), "serving the last good value") {
		t.Errorf("no warning logged:\n%s", f.logs)
	}
	if ok, _ := f.check(t, "wrong"); ok {
		t.Fatal("a stale value accepted a wrong token")
	}

	f.clk.Advance(15*time.Minute - time.Nanosecond) // last moment of the stale window
	mustAccept(t, f, "s3cret-token")

	f.clk.Advance(time.Nanosecond) // the window is over: fail closed
	ok, err := f.check(t, "s3cret-token")
	if ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after the stale window Check = %v, %v", ok, err)
	}
	// Stale serves answered; only the check after the window was refused.
	if got := testutil.ToFloat64(f.m.Unavailable); got != 1 {
		t.Errorf("unavailable = %v, want 1", got)
	}

	f.src.set("s3cret-token", nil) // SSM recovers
	f.clk.Advance(5 * time.Second)
	mustAccept(t, f, "s3cret-token")
}

func TestStaleServingCanBeDisabled(t *testing.T) {
	f := newFixture(t, Options{StaleMax: 0})
	mustAccept(t, f, "s3cret-token")
	f.src.set("", errors.New("boom"))
	f.clk.Advance(5 * time.Minute)
	if ok, err := f.check(t, "s3cret-token"); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Check = %v, %v; want fail closed", ok, err)
	}
}

func TestFailedFetchBacksOffBeforeAskingAgain(t *testing.T) {
	f := newFixture(t, Options{RetryBackoff: 5 * time.Second})
	f.src.set("", errors.New("boom"))
	for range 10 {
		_, _ = f.check(t, "s3cret-token")
	}
	if got := f.src.calls.Load(); got != 1 {
		t.Fatalf("SSM calls during the back-off = %d, want 1", got)
	}
	f.clk.Advance(5 * time.Second)
	_, _ = f.check(t, "s3cret-token")
	if got := f.src.calls.Load(); got != 2 {
		t.Fatalf("SSM calls after the back-off = %d, want 2", got)
	}
}

func TestRotatedTokenIsPickedUpOnMismatch(t *testing.T) {
	f := newFixture(t, Options{MismatchRefreshAfter: 30 * time.Second})
	mustAccept(t, f, "s3cret-token")
	f.src.set("s3cret-rotated", nil)

	// A young value is trusted: a wrong token costs no SSM call.
	if ok, _ := f.check(t, "s3cret-rotated"); ok {
		t.Fatal("accepted before any refresh")
	}
	if got := f.src.calls.Load(); got != 1 {
		t.Fatalf("SSM calls = %d, want 1", got)
	}
	f.clk.Advance(30 * time.Second)
	mustAccept(t, f, "s3cret-rotated")
	if got := f.src.calls.Load(); got != 2 {
		t.Fatalf("SSM calls = %d, want 2", got)
	}
	// The old token is now refused, and repeated wrong tokens cannot make
	// the cache hammer SSM.
	for range 5 {
		if ok, _ := f.check(t, "s3cret-token"); ok {
			t.Fatal("old token still accepted")
		}
	}
	if got := f.src.calls.Load(); got != 2 {
		t.Fatalf("SSM calls after wrong tokens = %d, want 2", got)
	}
}

func TestForcedRefreshFailureKeepsTheFreshValue(t *testing.T) {
	f := newFixture(t, Options{MismatchRefreshAfter: time.Second})
	mustAccept(t, f, "s3cret-token")
	f.src.set("", errors.New("boom"))
	f.clk.Advance(2 * time.Second)
	if ok, err := f.check(t, "other"); ok || err != nil {
		t.Fatalf("Check(other) = %v, %v", ok, err)
	}
	mustAccept(t, f, "s3cret-token")
}

func TestACancelledCallerDoesNotWaitForever(t *testing.T) {
	f := newFixture(t, Options{})
	f.src.gate = make(chan struct{})
	defer close(f.src.gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, err := f.cache.Check(ctx, "s3cret-token")
	if ok || !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, %v", ok, err)
	}
}

func TestDefaults(t *testing.T) {
	c := New(&fakeSource{value: "v"}, Options{})
	if c.opt.TTL != 5*time.Minute || c.opt.RetryBackoff != 5*time.Second || c.opt.MismatchRefreshAfter != 30*time.Second || c.opt.FetchTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", c.opt)
	}
	if ok, err := c.Check(context.Background(), "v"); !ok || err != nil {
		t.Fatalf("Check = %v, %v", ok, err)
	}
}
