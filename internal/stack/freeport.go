package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"
)

// portAttempts bounds how often a child is restarted on a fresh port.
const portAttempts = 5

// pickAddr picks the port to hand a child; tests replace it to make the
// race happen on purpose.
var pickAddr = FreeAddr

// StartOnFreePort starts spec on a loopback port the kernel picks (HTTP_ADDR
// and spec.Addr are set to it) and waits until it answers /health. A child
// can only be handed a port number, not a bound socket, so another process
// (a parallel test, say) may take the port between the pick and the child's
// listen; when the child then reports "address already in use", it is
// started again on a fresh port, up to five times. Every other failure is
// returned as is. logs, if not nil, makes each attempt's log writer.
func StartOnFreePort(ctx context.Context, spec ServiceSpec, logs func() io.Writer) (*Process, error) {
	var last error
	for range portAttempts {
		addr, err := pickAddr()
		if err != nil {
			return nil, err
		}
		s := spec
		s.Addr = addr
		s.Env = maps.Clone(spec.Env)
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env["HTTP_ADDR"] = addr
		var w io.Writer = io.Discard
		if logs != nil {
			w = logs()
		}
		seen := &inUseWatch{w: w}
		s.Logs = seen
		p, err := StartProcess(s)
		if err != nil {
			return nil, err
		}
		if err = p.WaitHealthy(ctx); err == nil {
			return p, nil
		}
		_, _ = p.Stop(2 * time.Second)
		if !seen.found() {
			return nil, err
		}
		last = fmt.Errorf("%s: %s: %w", spec.Name, addr, ErrAddrInUse)
	}
	return nil, fmt.Errorf("%w (gave up after %d ports)", last, portAttempts)
}

// inUseWatch passes output on and notes whether it said "address already
// in use" (the text of EADDRINUSE), even when split across writes.
type inUseWatch struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
	hit  bool
}

var inUseText = []byte("address already in use")

func (i *inUseWatch) Write(p []byte) (int, error) {
	i.mu.Lock()
	buf := append(i.tail, p...)
	if bytes.Contains(buf, inUseText) {
		i.hit = true
	}
	if keep := len(inUseText) - 1; len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	i.tail = append(i.tail[:0], buf...)
	i.mu.Unlock()
	return i.w.Write(p)
}

// Close closes the writer it wraps, if it is a Closer (StartProcess closes
// the log writer when the child exits).
func (i *inUseWatch) Close() error {
	if c, ok := i.w.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (i *inUseWatch) found() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.hit
}
