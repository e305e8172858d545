package consumer

import (
	"context"
	"time"
)

// pause stops every receive loop because S3 itself failed (cause), and
// starts the probe that ends the pause. A failed put uses up one of the
// message's receives; receiving on through an outage would walk good
// messages to the dead-letter queue, one visibility timeout at a time.
// Messages already held finish (and fail) as usual.
func (c *Consumer) pause(cause error) {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	if c.paused || c.runCtx == nil || c.runCtx.Err() != nil {
		return
	}
	c.paused = true
	c.resumed = make(chan struct{})
	c.m.Paused.Set(1)
	c.log.Error("S3 unavailable: receiving paused", "error", cause.Error())
	ctx := c.runCtx
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		c.probe(ctx)
	}()
}

// probe asks S3 on a back-off until it answers, then resumes receiving. It
// returns early, leaving the pause in place, when ctx ends: the consumer is
// stopping, and receives no more anyway.
func (c *Consumer) probe(ctx context.Context) {
	backoff := probeMin
	for {
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := c.store.Probe(pctx)
		cancel()
		c.m.Probes.Inc()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("S3 still unavailable", "error", err.Error(), "next_probe", backoff.String())
		backoff = min(2*backoff, probeMax)
	}
	c.pauseMu.Lock()
	c.paused = false
	close(c.resumed)
	c.m.Paused.Set(0)
	c.pauseMu.Unlock()
	c.log.Info("S3 answers again: receiving resumed")
}

func (c *Consumer) isPaused() bool {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	return c.paused
}

// waitResumed returns at once unless receiving is paused; then it waits
// for the pause to end. It reports false when ctx ended first.
func (c *Consumer) waitResumed(ctx context.Context) bool {
	c.pauseMu.Lock()
	paused, resumed := c.paused, c.resumed
	c.pauseMu.Unlock()
	if paused {
		select {
		case <-resumed:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

// releaseDelay is how long a message whose put failed stays invisible
// before its next try: releaseBase on the first receive, doubling with
// each receive after, never more than the visibility timeout.
func (c *Consumer) releaseDelay(receiveCount int) time.Duration {
	d := releaseBase
	for i := 1; i < receiveCount && d < c.opts.VisibilityTimeout; i++ {
		d *= 2
	}
	return min(d, c.opts.VisibilityTimeout)
}

// callTimeout bounds one ChangeMessageVisibility call: a quarter of the
// visibility timeout leaves time for a retry before the message reappears.
func (c *Consumer) callTimeout() time.Duration {
	return min(c.opts.VisibilityTimeout/4, maxCallTimeout)
}
