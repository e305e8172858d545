package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/message"
)

// BenchmarkEndToEndLatency is the figure the old design was judged by (about
// 15 s from POST to object): the time from sending one message to the API
// until its object can be read from S3, through the real binaries.
func BenchmarkEndToEndLatency(b *testing.B) {
	st := startStack(b)
	client := &http.Client{Timeout: 20 * time.Second}
	ctx := b.Context()
	var latencies []time.Duration
	i := 0
	for b.Loop() {
		i++
		d := message.Data{EmailSubject: fmt.Sprintf("latency %d", i), EmailSender: "bench@example.com", EmailTimestream: "1700000000", EmailContent: "measuring"}
		start := time.Now()
		id, err := sendMessage(ctx, client, st.APIURL, st.Resources.Token, d)
		if err != nil {
			b.Fatal(err)
		}
		if err := waitForObject(ctx, st.Clients.S3, st.Resources.Bucket, id, start, 20*time.Second); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkBurstThroughput sends bursts of 500 messages, 32 at a time, and
// reports messages per second from the first send to the last object.
func BenchmarkBurstThroughput(b *testing.B) {
	const n = 500
	st := startStack(b)
	total := 0
	var elapsed time.Duration
	for b.Loop() {
		sent := newSentSet()
		start := time.Now()
		if err := burst(b.Context(), st.APIURL, st.Resources.Token, n, 32, sent); err != nil {
			b.Fatal(err)
		}
		total += n
		testkit.Eventually(b, time.Minute, "burst stored", func() (bool, string) {
			keys, err := storedKeys(b.Context(), st.Clients.S3, st.Resources.Bucket)
			if err != nil {
				return false, err.Error()
			}
			return len(keys) >= total, fmt.Sprintf("%d of %d stored", len(keys), total)
		})
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
}

// waitForObject polls for the message's object. The key's date is the UTC
// day SQS received the message, which is the day of start or the next one.
func waitForObject(ctx context.Context, c *s3.Client, bucket, id string, start time.Time, timeout time.Duration) error {
	var keys []string
	for _, day := range []time.Time{start, start.Add(24 * time.Hour)} {
		k, err := message.ObjectKey(id, day)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, k := range keys {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err == nil {
				return nil
			}
			var nf *types.NotFound
			if !errors.As(err, &nf) {
				return fmt.Errorf("head %s: %w", k, err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("message %s not stored within %s", id, timeout)
}
