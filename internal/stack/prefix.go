package stack

import (
	"bytes"
	"io"
	"sync"
)

// LogSink serialises whole lines from several children onto one writer, so
// that two services logging at once never interleave inside a line.
type LogSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLogSink returns a sink writing to w.
func NewLogSink(w io.Writer) *LogSink { return &LogSink{w: w} }

// Prefixed returns a writer that puts prefix before every line it passes on.
// Close it to flush a last line that lacks its newline.
func (s *LogSink) Prefixed(prefix string) *PrefixWriter {
	return &PrefixWriter{sink: s, prefix: []byte(prefix)}
}

// Println writes one line with prefix.
func (s *LogSink) Println(prefix, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.w, prefix+line+"\n")
}

// PrefixWriter is an io.WriteCloser that prefixes each line.
type PrefixWriter struct {
	sink    *LogSink
	prefix  []byte
	mu      sync.Mutex
	pending []byte
}

// maxPending bounds a line that never ends; past it the text is passed on
// as if it had ended, rather than held in memory.
const maxPending = 64 << 10

func (p *PrefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, b...)
	var out []byte
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			if len(p.pending) >= maxPending {
				out = append(append(append(out, p.prefix...), p.pending...), '\n')
				p.pending = nil
			}
			break
		}
		out = append(append(out, p.prefix...), p.pending[:i+1]...)
		p.pending = p.pending[i+1:]
	}
	if len(p.pending) == 0 {
		p.pending = nil
	}
	if len(out) > 0 {
		p.sink.mu.Lock()
		// A failing terminal must not fail the child's pipe copy and with
		// it the child, so the error goes nowhere.
		_, _ = p.sink.w.Write(out)
		p.sink.mu.Unlock()
	}
	return len(b), nil
}

// Close flushes a trailing partial line.
func (p *PrefixWriter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	line := append(append(append([]byte(nil), p.prefix...), p.pending...), '\n')
	p.pending = nil
	p.sink.mu.Lock()
	defer p.sink.mu.Unlock()
	_, err := p.sink.w.Write(line)
	return err
}
