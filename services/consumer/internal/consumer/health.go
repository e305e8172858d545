package consumer

import (
	"fmt"
	"net/http"
	"time"

	"github.com/devops-exam/msgpipe/libs/httpserver"
)

// Health reports why the consumer is wedged, or nil. It is wedged when no
// receive has completed for stalledPeriods receive periods since one was
// due (a worker slot free), or when every worker has held
// its message for longer than a put may take. Either way it consumes
// nothing, and only a new task helps. A pause for an S3 outage is healthy:
// the probe is running, and a new task would meet the same S3.
func (c *Consumer) Health() error {
	now := time.Now()
	last := c.lastReceive.Load()
	if last == 0 || c.isPaused() {
		return nil
	}
	limit := c.putTimeout + busyGrace
	c.busyMu.Lock()
	busy, stuck := len(c.busy), 0
	for _, since := range c.busy {
		if now.Sub(since) > limit {
			stuck++
		}
	}
	c.busyMu.Unlock()
	if stuck >= c.opts.Concurrency {
		return fmt.Errorf("all %d workers busy for over %s", c.opts.Concurrency, limit)
	}
	period := max(c.opts.PollInterval, WaitTime(c.opts.PollInterval)) + receiveSlack
	if since := now.Sub(time.Unix(0, last)); busy < c.opts.Concurrency && since > stalledPeriods*period {
		return fmt.Errorf("no receive completed for %s", since.Round(time.Second))
	}
	return nil
}

// HealthHandler answers GET /health: 200 {"status":"ok"}, or 503
// {"status":"unhealthy","reason":…} so that ECS replaces a wedged task.
func (c *Consumer) HealthHandler(w http.ResponseWriter, r *http.Request) {
	if err := c.Health(); err != nil {
		w.Header().Set("Cache-Control", "no-store")
		httpserver.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "reason": err.Error()})
		return
	}
	httpserver.Health(w, r)
}

// working records that a worker took a message; the returned func records
// that it is done.
func (c *Consumer) working() (done func()) {
	c.busyMu.Lock()
	id := c.nextBusy
	c.nextBusy++
	c.busy[id] = time.Now()
	c.busyMu.Unlock()
	return func() {
		c.busyMu.Lock()
		delete(c.busy, id)
		c.busyMu.Unlock()
	}
}
