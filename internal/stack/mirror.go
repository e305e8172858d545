package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Mirror copies objects the emulator stores into a local folder, key for
// key, so a person can browse what the consumer wrote with ordinary tools.
// It learns of each object from the emulator's PUT hook rather than by
// listing the bucket, so a copy appears as soon as the object does.
type Mirror struct {
	dir    string
	bucket string
	prefix string
	report func(line string)

	queue chan string
	wg    sync.WaitGroup
	mu    sync.Mutex
	stop  bool
}

// NewMirror mirrors keys under prefix of bucket into dir. report, if not
// nil, is told about each copy and each failure.
func NewMirror(dir, bucket, prefix string, report func(line string)) *Mirror {
	if report == nil {
		report = func(string) {}
	}
	return &Mirror{dir: dir, bucket: bucket, prefix: prefix, report: report, queue: make(chan string, 4096)}
}

// Observe is the emulator's PutFunc. It never blocks the emulator: a full
// queue drops the copy and says so.
func (m *Mirror) Observe(bucket, key string) {
	if bucket != m.bucket || !strings.HasPrefix(key, m.prefix) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop {
		return
	}
	select {
	case m.queue <- key:
	default:
		m.report("not mirrored (queue full): " + key)
	}
}

// Start copies observed objects with client until Close.
func (m *Mirror) Start(client *s3.Client) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for key := range m.queue {
			path, err := m.copy(client, key)
			if err != nil {
				m.report(fmt.Sprintf("not mirrored: %s: %v", key, err))
				continue
			}
			m.report(key + " -> " + path)
		}
	}()
}

// Close finishes the copies already queued and stops.
func (m *Mirror) Close() {
	m.mu.Lock()
	if !m.stop {
		m.stop = true
		close(m.queue)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *Mirror) copy(client *s3.Client, key string) (string, error) {
	// The key comes from the emulator, which accepts any key a client
	// sends; refuse ones that would land outside the folder.
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("key escapes the output folder")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 8<<20))
	if err != nil {
		return "", err
	}
	path := filepath.Join(m.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	// Write then rename, so a person opening the file never sees half of it.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mirror-*")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(body); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	return path, nil
}
