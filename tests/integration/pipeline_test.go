package integration

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devops-exam/msgpipe/e2e/check"
	"github.com/devops-exam/msgpipe/internal/testkit"
)

func TestE2ECheckPassesAgainstTheRealServices(t *testing.T) {
	st := startStack(t)
	var out bytes.Buffer
	res, err := check.Run(t.Context(), check.Config{
		APIURL:   st.APIURL,
		Token:    st.Resources.Token,
		Bucket:   st.Resources.Bucket,
		QueueURL: st.Resources.QueueURL,
		S3:       st.Clients.S3,
		SQS:      st.Clients.SQS,
		Timeout:  20 * time.Second,
		Out:      &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"Wrong token refused: 401", "Invalid payload refused: 400", "Response status: 200", "Content verified successfully!", "Test file deleted", "E2E TEST PASSED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	keys, err := storedKeys(t.Context(), st.Clients.S3, st.Resources.Bucket)
	if err != nil || len(keys) != 0 {
		t.Errorf("bucket after the check: %v %v (the test object must be gone, refused ones never there)", keys, err)
	}
	t.Logf("E2E: message %s stored after %s, run took %s", res.MessageID, res.Processing, res.Total)
}

func TestBurstIsStoredExactlyOnce(t *testing.T) {
	const n = 200
	st := startStack(t)
	sent := newSentSet()
	began := time.Now()
	if err := burst(t.Context(), st.APIURL, st.Resources.Token, n, 32, sent); err != nil {
		t.Fatal(err)
	}
	accepted := time.Since(began)
	assertStoredExactlyOnce(t, st, sent.snapshot(), 30*time.Second)
	t.Logf("%d messages: accepted in %s, all stored after %s (%.0f msg/s end to end)",
		n, accepted.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), n/time.Since(began).Seconds())
}

func TestConsumerSIGTERMMidBurstLosesNothing(t *testing.T) {
	const n = 300
	st := startStack(t)
	sent := newSentSet()
	errc := make(chan error, 1)
	go func() { errc <- burst(t.Context(), st.APIURL, st.Resources.Token, n, 8, sent) }()

	// SIGTERM once the consumer is visibly busy, while the burst still runs.
	first := st.Consumer
	testkit.Eventually(t, 20*time.Second, "consumer busy", func() (bool, string) {
		keys, err := storedKeys(t.Context(), st.Clients.S3, st.Resources.Bucket)
		if err != nil {
			return false, err.Error()
		}
		return len(keys) >= 20, ""
	})
	if err := first.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sentAtStop := sent.len()
	select {
	case <-first.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("consumer still running 15s after SIGTERM")
	}
	if code := first.ExitCode(); code != 0 {
		t.Fatalf("consumer exited with %d after SIGTERM, want 0", code)
	}
	keys, _ := storedKeys(t.Context(), st.Clients.S3, st.Resources.Bucket)
	t.Logf("SIGTERM with %d of %d messages accepted by the API; %d stored when the consumer exited", sentAtStop, n, len(keys))

	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sentAtStop >= n {
		t.Log("note: the burst had finished before SIGTERM; the consumer still had work in flight")
	}
	if _, err := st.StartConsumer(t.Context()); err != nil {
		t.Fatalf("restart consumer: %v", err)
	}
	assertStoredExactlyOnce(t, st, sent.snapshot(), 40*time.Second)
}
