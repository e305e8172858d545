package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/tools/bench/internal/latencyproxy"
	"github.com/devops-exam/msgpipe/tools/bench/internal/proccpu"
)

// DrainConfig is one consumer benchmark: Runs drains of Messages each.
type DrainConfig struct {
	Messages int
	Runs     int
	Delays   latencyproxy.Delays
	// Env is added to the consumer's environment (settings under test).
	Env map[string]string
	// Timeout bounds one drain. Longer than the visibility timeout, so a
	// stuck message shows up as a slow one rather than as a failure.
	Timeout time.Duration
}

// StallGap is the pause between two stored objects that marks a drain as
// stalled: far longer than any gap of a healthy drain, far shorter than the
// visibility timeout a lost receive costs.
const StallGap = 5 * time.Second

// DrainResult summarises the runs.
type DrainResult struct {
	Scenario          string            `json:"scenario"`
	Messages          int               `json:"messages"`
	Runs              int               `json:"runs"`
	Env               map[string]string `json:"env,omitempty"`
	SQSLatencyMs      float64           `json:"sqs_latency_ms"`
	S3PutLatencyMs    float64           `json:"s3_put_latency_ms"`
	MsgsPerSec        float64           `json:"msgs_per_sec"` // median run
	WorstMsgsPerSec   float64           `json:"worst_msgs_per_sec"`
	SlowestSeconds    float64           `json:"slowest_message_seconds"` // over all runs
	LongestGapSeconds float64           `json:"longest_gap_seconds"`     // over all runs
	StalledRuns       int               `json:"stalled_runs"`
	// ReceiveErrors and Failed (by reason) are the consumer's own counts,
	// so a stall comes with its cause.
	ReceiveErrors   int                `json:"receive_errors"`
	Failed          map[string]float64 `json:"failed,omitempty"`
	CPUPerMessageUs float64            `json:"cpu_per_message_us"`
	// EmulatorCPUPerMessageUs is what this process spent per message on
	// the same cores while the consumer drained: the emulator, the proxy
	// in front of it that times each stored object, and any latency proxy.
	EmulatorCPUPerMessageUs float64  `json:"emulator_cpu_per_message_us"`
	SQSPer1000              []OpRate `json:"sqs_per_1000"`
	S3Per1000               []OpRate `json:"s3_per_1000"`
}

// Drain runs the drains, each on its own queue, bucket and consumer.
func Drain(ctx context.Context, e *Env, cfg DrainConfig) (DrainResult, error) {
	if cfg.Runs < 1 || cfg.Messages < 1 {
		return DrainResult{}, errors.New("drain: need at least one run of one message")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	// The emulator's own proxy stays in the path of object writes: its PUT
	// hook tells the time each object was stored. SQS calls go straight to
	// the emulator, or through the latency proxy when one is asked for.
	env := e.fewestHops
	if cfg.Delays != (latencyproxy.Delays{}) {
		proxy, err := latencyproxy.Start(e.Emulator.URL, cfg.Delays)
		if err != nil {
			return DrainResult{}, err
		}
		defer proxy.Close()
		env = func(extra map[string]string) map[string]string { return withEndpoint(proxy.URL, extra) }
	}
	out := DrainResult{
		Scenario: "drain", Messages: cfg.Messages, Runs: cfg.Runs, Env: cfg.Env,
		SQSLatencyMs: ms(cfg.Delays.SQS), S3PutLatencyMs: ms(cfg.Delays.S3Put),
	}
	var rates []float64
	sqsCounts, s3Counts := map[string]float64{}, map[string]float64{}
	var cpu, emulatorCPU time.Duration
	for run := range cfg.Runs {
		r, err := drainOnce(ctx, e, env, cfg)
		if err != nil {
			return out, fmt.Errorf("run %d: %w", run+1, err)
		}
		rates = append(rates, float64(cfg.Messages)/r.drain.Seconds())
		out.SlowestSeconds = max(out.SlowestSeconds, r.slowest.Seconds())
		out.LongestGapSeconds = max(out.LongestGapSeconds, r.gap.Seconds())
		if r.gap >= StallGap {
			out.StalledRuns++
		}
		for k, v := range r.sqs {
			sqsCounts[k] += v
		}
		for k, v := range r.s3 {
			s3Counts[k] += v
		}
		cpu += r.cpu
		emulatorCPU += r.emulatorCPU
		out.ReceiveErrors += int(r.receiveErrors)
		for k, v := range r.failed {
			if out.Failed == nil {
				out.Failed = map[string]float64{}
			}
			out.Failed[k] += v
		}
	}
	slices.Sort(rates)
	out.MsgsPerSec = rates[len(rates)/2]
	out.WorstMsgsPerSec = rates[0]
	total := cfg.Messages * cfg.Runs
	out.SQSPer1000 = per1000(sqsCounts, total)
	out.S3Per1000 = per1000(s3Counts, total)
	out.CPUPerMessageUs = perRequestUs(cpu, total)
	out.EmulatorCPUPerMessageUs = perRequestUs(emulatorCPU, total)
	return out, nil
}

type drainRun struct {
	drain, slowest, gap, cpu time.Duration
	emulatorCPU              time.Duration      // this process's, during the drain
	sqs, s3                  map[string]float64 // requests the consumer sent
	receiveErrors            float64
	failed                   map[string]float64 // messages_failed_total by reason, non-zero only
}

func drainOnce(ctx context.Context, e *Env, env func(map[string]string) map[string]string, cfg DrainConfig) (_ drainRun, err error) {
	st, err := stack.Start(ctx, stack.Options{
		Emulator:    e.Emulator,
		Names:       names("drain"),
		Binaries:    e.Binaries,
		APIEnv:      env(nil),
		ConsumerEnv: env(cfg.Env),
		Logs:        e.Logs,
		// The preload goes straight to the emulator before any consumer
		// runs. A consumer started and stopped first left long polls the
		// emulator could still hand the first batch to: a stall of one
		// visibility timeout in about one drain in ten, made by the
		// benchmark itself.
		DeferConsumer: true,
	})
	if err != nil {
		return drainRun{}, err
	}
	defer stopAndForget(ctx, st, &err)
	tr := e.track(st.Resources.Bucket)
	if err := preload(ctx, st.Clients.SQS, st.Resources.QueueURL, cfg.Messages); err != nil {
		return drainRun{}, err
	}
	self0, err := proccpu.Time(os.Getpid())
	if err != nil {
		return drainRun{}, err
	}
	start := time.Now()
	consumer, err := st.StartConsumer(ctx)
	if err != nil {
		return drainRun{}, err
	}
	if !tr.waitFor(cfg.Messages, start.Add(cfg.Timeout)) {
		return drainRun{}, fmt.Errorf("%d of %d messages stored within %s", len(tr.times()), cfg.Messages, cfg.Timeout)
	}
	self1, err := proccpu.Time(os.Getpid())
	if err != nil {
		return drainRun{}, err
	}
	cpu, err := proccpu.Time(consumer.Pid())
	if err != nil {
		return drainRun{}, err
	}
	const metric = "msgpipe_consumer_aws_requests_total"
	sqsReqs, err := awsRequests(ctx, consumer, metric, "SQS")
	if err != nil {
		return drainRun{}, err
	}
	s3Reqs, err := awsRequests(ctx, consumer, metric, "S3")
	if err != nil {
		return drainRun{}, err
	}
	errs, err := scrape(ctx, consumer, "msgpipe_consumer_receive_errors_total", "")
	if err != nil {
		return drainRun{}, err
	}
	failed, err := scrape(ctx, consumer, "msgpipe_consumer_messages_failed_total", "reason")
	if err != nil {
		return drainRun{}, err
	}
	for k, v := range failed {
		if v == 0 {
			delete(failed, k)
		}
	}
	times := tr.times()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	r := drainRun{drain: times[len(times)-1].Sub(start), cpu: cpu, emulatorCPU: self1 - self0, sqs: sqsReqs, s3: s3Reqs, receiveErrors: errs[""], failed: failed}
	r.slowest = r.drain
	prev := start
	for _, t := range times {
		r.gap = max(r.gap, t.Sub(prev))
		prev = t
	}
	return r, nil
}

// preload sends n messages as the api would: the data as the body, and the
// id, acceptance time, request id and schema version as attributes.
func preload(ctx context.Context, c *sqs.Client, queueURL string, n int) error {
	const senders = 8
	batches := make(chan []types.SendMessageBatchRequestEntry)
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for entries := range batches {
				out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
				if err == nil && len(out.Failed) > 0 {
					err = fmt.Errorf("%d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
				}
				if err != nil {
					errs <- fmt.Errorf("preload: %w", err)
					return
				}
			}
		}()
	}
	var sendErr error
	for i := 0; i < n && sendErr == nil; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, n); j++ {
			e, err := entry(j)
			if err != nil {
				sendErr = err
				break
			}
			entries = append(entries, e)
		}
		select {
		case batches <- entries:
		case sendErr = <-errs:
		}
	}
	close(batches)
	wg.Wait()
	if sendErr != nil {
		return sendErr
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func entry(i int) (types.SendMessageBatchRequestEntry, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return types.SendMessageBatchRequestEntry{}, err
	}
	body, err := message.Data{
		EmailSubject:    fmt.Sprintf("Drain message %d", i),
		EmailSender:     "bench@example.com",
		EmailTimestream: strconv.Itoa(1700000000 + i),
		EmailContent:    "A message of typical size, preloaded for the drain benchmark.",
	}.Encode()
	if err != nil {
		return types.SendMessageBatchRequestEntry{}, err
	}
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return types.SendMessageBatchRequestEntry{
		Id:          aws.String(strconv.Itoa(i % 10)),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			message.AttrSchemaVersion: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(message.SchemaVersion))},
			message.AttrRequestID:     str(fmt.Sprintf("bench-%d", i)),
			message.AttrMessageID:     str(id.String()),
			message.AttrAcceptedAt:    str(time.Now().UTC().Format(message.AcceptedAtLayout)),
		},
	}, nil
}
