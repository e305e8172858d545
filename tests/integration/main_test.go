// Package integration starts the real api and consumer binaries against an
// in-process emulator and follows messages from HTTP to S3: one message
// through the E2E check, a concurrent burst, and a consumer stopped with
// SIGTERM in the middle of a burst.
//
// The binaries are built once per run with go build, or taken from
// MSGPIPE_API_BIN and MSGPIPE_CONSUMER_BIN (rlocation paths under Bazel).
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/message"
)

var (
	binaries stack.Binaries
	emulator *stack.Emulator
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cleanup func()
	var err error
	if binaries, cleanup, err = stack.FindOrBuildTemp(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "integration: service binaries: %v\n", err)
		return 1
	}
	defer cleanup()
	// One emulator for the package: kumo's state is process-wide anyway,
	// and every test names its own queue, bucket and parameter.
	if emulator, err = stack.StartEmulator("127.0.0.1:0", nil); err != nil {
		fmt.Fprintf(os.Stderr, "integration: emulator: %v\n", err)
		return 1
	}
	defer emulator.Close()
	return m.Run()
}

// consumerEnv makes redeliveries quick: a message whose receive or put
// failed is visible again after 3s instead of 30s.
var consumerEnv = map[string]string{
	"VISIBILITY_TIMEOUT": "3s",
	"POLL_INTERVAL":      "1s",
	"SHUTDOWN_TIMEOUT":   "10s",
	"LOG_LEVEL":          "warn",
}

var seq atomic.Int64

// startStack starts both services with resources only this test uses. Their
// logs are shown when the test fails.
func startStack(t testing.TB) *stack.Stack {
	t.Helper()
	name := fmt.Sprintf("it-%d-%d-%s", os.Getpid(), seq.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	logs := &testkit.Buffer{}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		Emulator:    emulator,
		Names:       stack.Names{Queue: name, Bucket: name, Parameter: "/" + name + "/token"},
		Binaries:    binaries,
		APIEnv:      map[string]string{"LOG_LEVEL": "warn"},
		ConsumerEnv: consumerEnv,
		Logs:        logs,
	})
	if err != nil {
		t.Fatalf("start stack: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		if err := st.Stop(15 * time.Second); err != nil {
			t.Errorf("stop stack: %v", err)
		}
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	return st
}

// sendMessage posts one message and returns the id the API answered with.
func sendMessage(ctx context.Context, client *http.Client, apiURL, token string, d message.Data) (string, error) {
	body, _ := json.Marshal(map[string]any{"data": d, "token": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/api/message", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var out struct {
		Status    string `json:"status"`
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Status != "queued" || out.MessageID == "" {
		return "", fmt.Errorf("unexpected 200 body %s (%v)", b, err)
	}
	return out.MessageID, nil
}

// burst sends n distinct messages with at most conc in flight and returns
// what was sent by message id. It stops at the first failure.
func burst(ctx context.Context, apiURL, token string, n, conc int, sent *sentSet) error {
	client := &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc},
	}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := message.Data{
					EmailSubject:    fmt.Sprintf("burst message %d", i),
					EmailSender:     fmt.Sprintf("sender%d@example.com", i),
					EmailTimestream: fmt.Sprintf("%d", 1700000000+i),
					EmailContent:    fmt.Sprintf("body of message %d\nsecond line <&> \"quoted\" ✓", i),
				}
				id, err := sendMessage(ctx, client, apiURL, token, d)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("message %d: %w", i, err) })
					return
				}
				if !sent.add(id, d) {
					once.Do(func() { firstErr = fmt.Errorf("message %d: the API returned id %s twice", i, id) })
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

type sentSet struct {
	mu   sync.Mutex
	byID map[string]message.Data
}

func newSentSet() *sentSet { return &sentSet{byID: map[string]message.Data{}} }

func (s *sentSet) add(id string, d message.Data) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[id]; dup {
		return false
	}
	s.byID[id] = d
	return true
}

func (s *sentSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *sentSet) snapshot() map[string]message.Data {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]message.Data, len(s.byID))
	for k, v := range s.byID {
		out[k] = v
	}
	return out
}

// storedKeys lists every key under messages/ in the bucket.
func storedKeys(ctx context.Context, c *s3.Client, bucket string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(message.KeyPrefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// assertStoredExactlyOnce checks that the bucket holds one object per sent
// message, under the key its id and SQS timestamp give, with the content
// that was sent, and nothing else; and that the queue and its dead-letter
// queue are empty.
func assertStoredExactlyOnce(t *testing.T, st *stack.Stack, sent map[string]message.Data, timeout time.Duration) {
	t.Helper()
	ctx := t.Context()
	c := st.Clients
	testkit.Eventually(t, timeout, fmt.Sprintf("all %d messages stored", len(sent)), func() (bool, string) {
		keys, err := storedKeys(ctx, c.S3, st.Resources.Bucket)
		if err != nil {
			return false, err.Error()
		}
		return len(keys) >= len(sent), fmt.Sprintf("%d of %d stored", len(keys), len(sent))
	})
	keys, err := storedKeys(ctx, c.S3, st.Resources.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(sent) {
		t.Fatalf("%d objects for %d messages", len(keys), len(sent))
	}
	seen := map[string]bool{}
	for _, key := range keys {
		out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Resources.Bucket), Key: aws.String(key)},
			func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		var got message.Stored
		dec := json.NewDecoder(out.Body)
		dec.DisallowUnknownFields()
		err = dec.Decode(&got)
		out.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want, ok := sent[got.MessageID]
		switch {
		case !ok:
			t.Errorf("%s holds message %s, which was never sent", key, got.MessageID)
			continue
		case seen[got.MessageID]:
			t.Errorf("message %s stored twice (again at %s)", got.MessageID, key)
		}
		seen[got.MessageID] = true
		if wantKey, _ := message.ObjectKey(got.MessageID, got.SentAt); key != wantKey {
			t.Errorf("%s: want key %s from its id and sent_at", key, wantKey)
		}
		if got.Data != want || got.SchemaVersion != message.SchemaVersion || got.ReceiveCount < 1 || got.RequestID == "" {
			t.Errorf("%s: stored %+v, sent %+v", key, got, want)
		}
	}
	for _, q := range []string{st.Resources.QueueURL, st.Resources.DLQURL} {
		testkit.Eventually(t, 10*time.Second, "queue "+q+" empty", func() (bool, string) {
			d, err := stack.Depth(ctx, c.SQS, q)
			if err != nil {
				return false, err.Error()
			}
			return d.Total() == 0, fmt.Sprintf("%+v", d)
		})
	}
}
