package consumer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
)

// countingBatch acknowledges every delete and closes done at want.
type countingBatch struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countingBatch) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	if c.n.Add(int64(len(in.Entries))) == c.want {
		close(c.done)
	}
	return out, nil
}

// drain runs a consumer over q until b.N messages are deleted and reports
// messages per second from its start.
func drain(b *testing.B, q Queue, s Store, opts Options) {
	batch := &countingBatch{want: int64(b.N), done: make(chan struct{})}
	del := deleter.New(batch, "q", deleter.Options{FlushInterval: 5 * time.Millisecond})
	go del.Run()
	c := New(q, s, del, opts)
	ctx, cancel := context.WithCancel(context.Background())
	b.ResetTimer()
	start := time.Now()
	runDone := make(chan struct{})
	go func() { _ = c.Run(ctx); close(runDone) }()
	<-batch.done
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-runDone
	del.Close(context.Background())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkPipeline pushes b.N messages through the consumer's whole
// path (receive, re-validate, encode, put, batched delete) with in-memory
// SQS and S3, measuring the consumer's own cost per message.
func BenchmarkPipeline(b *testing.B) {
	for _, workers := range []int{10, 100} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			msgs := make([]types.Message, b.N)
			for i := range msgs {
				msgs[i] = msg(fmt.Sprintf("m-%d", i), validBody)
			}
			q := newFakeQueue(msgs...)
			q.longPoll = true
			opts := defaultOptions()
			opts.Concurrency = workers
			b.ReportAllocs()
			drain(b, q, newFakeStore(), opts)
		})
	}
}

// BenchmarkPipelineLatency is BenchmarkPipeline with AWS-like latency
// injected into the fakes (5 ms per receive, or a slow SQS's 250 ms, and
// 25 ms per put), for worker and receive-loop counts: throughput should
// follow workers ÷ (receive + put latency), and one receive loop falls
// short of it as receives slow down. Run it with a fixed count, e.g.
// -benchtime 1000x.
func BenchmarkPipelineLatency(b *testing.B) {
	for _, tc := range []struct {
		recv               time.Duration
		workers, receivers int
	}{
		{5 * time.Millisecond, 16, 1}, {5 * time.Millisecond, 16, 3},
		{5 * time.Millisecond, 64, 1}, {5 * time.Millisecond, 64, 8},
		{5 * time.Millisecond, 128, 14},
		{250 * time.Millisecond, 64, 1}, {250 * time.Millisecond, 64, 8},
	} {
		b.Run(fmt.Sprintf("receive=%v/workers=%d/receivers=%d", tc.recv, tc.workers, tc.receivers), func(b *testing.B) {
			msgs := make([]types.Message, b.N)
			for i := range msgs {
				msgs[i] = msg(fmt.Sprintf("m-%d", i), validBody)
			}
			q := &slowQueue{fakeQueue: *newFakeQueue(msgs...), latency: tc.recv}
			q.longPoll = true
			s := newFakeStore()
			s.hook = func(context.Context, string) error { time.Sleep(25 * time.Millisecond); return nil }
			opts := defaultOptions()
			opts.Concurrency = tc.workers
			opts.Receivers = tc.receivers
			drain(b, q, s, opts)
		})
	}
}
