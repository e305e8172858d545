package logging

import (
	"io"
	"sync"
	"time"
)

// Buffer batches log lines into few large writes. A write per line costs a
// system call per request, made while slog holds its handler's lock, so
// under load every request queued behind every other's write to the
// container runtime's pipe: about a quarter of the api's CPU. Lines reach
// the underlying writer whole, in order, at most FlushInterval late; Close
// writes what is left, so nothing logged before a clean stop is lost.
type Buffer struct {
	w        io.Writer
	maxBytes int

	mu  sync.Mutex // guards buf
	buf []byte

	flushMu sync.Mutex // serialises writes to w, so lines keep their order
	spare   []byte     // guarded by flushMu: the buffer written last, reused

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Defaults for NewBuffer.
const (
	FlushInterval  = 100 * time.Millisecond
	BufferMaxBytes = 64 << 10
)

// NewBuffer returns a Buffer writing to w every interval, or sooner once
// maxBytes are waiting.
func NewBuffer(w io.Writer, interval time.Duration, maxBytes int) *Buffer {
	b := &Buffer{w: w, maxBytes: maxBytes, buf: make([]byte, 0, maxBytes), spare: make([]byte, 0, maxBytes),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

// Write keeps p (one log line, as slog writes them) for the next flush. It
// never fails: a failed flush loses lines, not the caller's request.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.maxBytes
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (b *Buffer) Flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	out := b.buf
	if len(out) == 0 {
		b.mu.Unlock()
		return
	}
	// Two buffers take turns: an idle service's timer allocates nothing.
	b.buf = b.spare
	b.mu.Unlock()
	_, _ = b.w.Write(out)
	b.spare = out[:0]
}

func (b *Buffer) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Close stops the timer and writes what is left. Writes after Close go out
// with the next explicit Flush or Close, which is safe to call again.
func (b *Buffer) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
	b.Flush()
	return nil
}
