package logging

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer records every write the Buffer makes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// Lines from many goroutines reach the writer whole, each once, in far
// fewer writes than lines, and Close leaves none behind.
func TestBufferKeepsEveryLineWhole(t *testing.T) {
	out := &lockedBuffer{}
	buf := NewBuffer(out, time.Hour, 4096) // only size and Close flush here
	log := New(buf, slog.LevelInfo, "api")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				log.Info("request", "n", fmt.Sprintf("%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	if err := buf.Close(); err != nil {
		t.Fatal(err)
	}
	text, writes := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines, want 2000", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"time":`) || !strings.HasSuffix(l, `"}`) {
			t.Fatalf("line not whole: %q", l)
		}
		seen[l[strings.Index(l, `"n":`):]] = true
	}
	if len(seen) != 2000 {
		t.Errorf("%d distinct lines, want 2000", len(seen))
	}
	if writes >= 2000/10 {
		t.Errorf("%d writes for 2000 lines: not batched", writes)
	}
}

// Lines logged while nothing else happens still go out on the timer.
func TestBufferFlushesOnItsInterval(t *testing.T) {
	out := &lockedBuffer{}
	buf := NewBuffer(out, 10*time.Millisecond, 1<<20)
	defer buf.Close()
	buf.Write([]byte("one line\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if text, _ := out.snapshot(); text == "one line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was not flushed by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close can be called twice, and a late write goes out with the next one.
func TestBufferCloseTwice(t *testing.T) {
	out := &lockedBuffer{}
	buf := NewBuffer(out, time.Hour, 1<<20)
	buf.Write([]byte("a\n"))
	buf.Close()
	buf.Write([]byte("b\n"))
	buf.Close()
	if text, _ := out.snapshot(); text != "a\nb\n" {
		t.Errorf("written %q, want both lines in order", text)
	}
}
