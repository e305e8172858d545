// Package token decides whether a request's token is the one in SSM
// Parameter Store, asking SSM as rarely as safety allows.
//
// The value is cached for a TTL. Concurrent misses share one SSM call. When
// SSM fails after the TTL, the last good value keeps serving for a bounded
// stale period; with no good value every check fails closed. A token that
// does not match a value older than MismatchRefreshAfter triggers one
// refresh, so a rotated token is accepted within seconds instead of a TTL.
package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrUnavailable means no token can be trusted right now: SSM failed and
// there is no good value young enough to serve.
var ErrUnavailable = errors.New("token source unavailable")

// Source fetches the current token.
type Source interface {
	Fetch(ctx context.Context) (string, error)
}

// Metrics counts what the cache does; the token itself never becomes a
// label or a value.
type Metrics struct {
	Hits, Misses, RefreshErrors, StaleServes prometheus.Counter
	// Unavailable counts checks refused because no value was usable: each
	// is a 503 to the client, told apart from publish failures' 503s.
	Unavailable prometheus.Counter
}

// NewMetrics registers the cache's counters under namespace.
func NewMetrics(reg prometheus.Registerer, namespace string) *Metrics {
	c := func(name, help string) prometheus.Counter {
		ctr := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		reg.MustRegister(ctr)
		return ctr
	}
	return &Metrics{
		Hits:          c("token_cache_hits_total", "Token checks answered from the cache."),
		Misses:        c("token_cache_misses_total", "Token checks that needed SSM (expired, empty or forced refresh)."),
		RefreshErrors: c("token_refresh_errors_total", "Failed SSM reads of the token."),
		StaleServes:   c("token_stale_serves_total", "Token checks answered with an expired value because SSM failed."),
		Unavailable:   c("token_unavailable_total", "Token checks refused because no usable value was known (the client got 503)."),
	}
}

// Options tune a Cache. Zero values take the defaults below.
type Options struct {
	TTL                  time.Duration // default 5m
	StaleMax             time.Duration // 0: never serve an expired value
	RetryBackoff         time.Duration // wait after a failed fetch before asking SSM again; default 5s
	MismatchRefreshAfter time.Duration // default 30s
	FetchTimeout         time.Duration // default 5s
	Now                  func() time.Time
	Logger               *slog.Logger
	Metrics              *Metrics
}

// Cache checks tokens against a Source.
type Cache struct {
	src Source
	opt Options

	mu        sync.Mutex
	value     string
	fetchedAt time.Time
	have      bool
	failedAt  time.Time // zero after a success
	lastErr   error
	inflight  *fetchCall
}

type fetchCall struct {
	done  chan struct{}
	value string
	err   error
}

// New returns a Cache over src.
func New(src Source, opt Options) *Cache {
	if opt.TTL <= 0 {
		opt.TTL = 5 * time.Minute
	}
	if opt.RetryBackoff <= 0 {
		opt.RetryBackoff = 5 * time.Second
	}
	if opt.MismatchRefreshAfter <= 0 {
		opt.MismatchRefreshAfter = 30 * time.Second
	}
	if opt.FetchTimeout <= 0 {
		opt.FetchTimeout = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(prometheus.NewRegistry(), "unused")
	}
	return &Cache{src: src, opt: opt}
}

// Check reports whether presented is the current token. It returns an error
// wrapping ErrUnavailable when it cannot know, which callers must treat as
// "no": the cache fails closed.
func (c *Cache) Check(ctx context.Context, presented string) (bool, error) {
	if presented == "" {
		return false, nil
	}
	current, err := c.get(ctx, false)
	if err != nil {
		c.opt.Metrics.Unavailable.Inc()
		return false, err
	}
	if equal(current, presented) {
		return true, nil
	}
	c.mu.Lock()
	age := c.opt.Now().Sub(c.fetchedAt)
	c.mu.Unlock()
	if age < c.opt.MismatchRefreshAfter {
		return false, nil
	}
	// The token may have been rotated since the value was cached.
	refreshed, err := c.get(ctx, true)
	if err != nil {
		c.opt.Metrics.Unavailable.Inc()
		return false, err
	}
	return equal(refreshed, presented), nil
}

// equal compares in constant time; hashing first hides the length too.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func (c *Cache) get(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	now := c.opt.Now()
	if !force && c.have && now.Sub(c.fetchedAt) < c.opt.TTL {
		v := c.value
		c.mu.Unlock()
		c.opt.Metrics.Hits.Inc()
		return v, nil
	}
	c.opt.Metrics.Misses.Inc()
	if !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.opt.RetryBackoff {
		// SSM failed moments ago: asking again on every request would turn
		// an outage into a flood of calls.
		defer c.mu.Unlock()
		return c.fallbackLocked(now, c.lastErr)
	}
	call := c.inflight
	if call == nil {
		call = &fetchCall{done: make(chan struct{})}
		c.inflight = call
		go c.fetch(call)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	if call.err == nil {
		return call.value, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fallbackLocked(c.opt.Now(), call.err)
}

// fetch runs detached from any one request, so a client that hangs up does
// not fail the other requests waiting on the same call.
func (c *Cache) fetch(call *fetchCall) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.FetchTimeout)
	defer cancel()
	v, err := c.src.Fetch(ctx)
	if err == nil && v == "" {
		err = errors.New("the parameter is empty")
	}

	c.mu.Lock()
	now := c.opt.Now()
	if err == nil {
		c.value, c.fetchedAt, c.have = v, now, true
		c.failedAt, c.lastErr = time.Time{}, nil
	} else {
		c.failedAt, c.lastErr = now, err
		c.opt.Metrics.RefreshErrors.Inc()
		switch {
		case c.have && now.Sub(c.fetchedAt) < c.opt.TTL+c.opt.StaleMax:
			c.opt.Logger.Warn("token refresh failed; serving the last good value",
				"error", err.Error(), "value_age", now.Sub(c.fetchedAt).Round(time.Second).String())
		default:
			c.opt.Logger.Error("token refresh failed and no good value is young enough; rejecting requests", "error", err.Error())
		}
	}
	c.inflight = nil
	call.value, call.err = v, err
	c.mu.Unlock()
	close(call.done)
}

func (c *Cache) fallbackLocked(now time.Time, cause error) (string, error) {
	age := now.Sub(c.fetchedAt)
	switch {
	case c.have && age < c.opt.TTL:
		return c.value, nil // a forced refresh failed; the value is still fresh
	case c.have && age < c.opt.TTL+c.opt.StaleMax:
		c.opt.Metrics.StaleServes.Inc()
		return c.value, nil
	}
	return "", fmt.Errorf("%w: %w", ErrUnavailable, cause)
}
