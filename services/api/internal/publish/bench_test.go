package publish

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/devops-exam/msgpipe/internal/kumotest"
)

// slowSQS adds a fixed round trip to every call, as real AWS would over
// the emulator's loopback, and counts the calls.
type slowSQS struct {
	Client
	latency time.Duration
	calls   atomic.Int64
}

func (s *slowSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opt ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.calls.Add(1)
	time.Sleep(s.latency)
	return s.Client.SendMessageBatch(ctx, in, opt...)
}

// BenchmarkPublish publishes from 64 concurrent requests through the real
// SDK to the emulator, with an injected round trip per call, and reports
// messages/s and SendMessageBatch calls per 1,000 messages.
func BenchmarkPublish(b *testing.B) {
	env := kumotest.Start(b)
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		for _, inFlight := range []int{1, 2, 4, 6, 8, 16} {
			b.Run(fmt.Sprintf("latency=%s/inflight=%d", latency, inFlight), func(b *testing.B) {
				slow := &slowSQS{Client: env.SQS, latency: latency}
				p, err := New(context.Background(), slow, env.Queue(b, nil), Options{MaxInFlight: inFlight})
				if err != nil {
					b.Fatal(err)
				}
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 concurrent requests
				start := time.Now()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Publish(context.Background(), sample, ""); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				b.ReportMetric(float64(slow.calls.Load())*1000/float64(b.N), "calls/1000msgs")
			})
		}
	}
}
