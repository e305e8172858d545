// Package queuestats samples the depth of the consumer's queue and of its
// dead-letter queue with GetQueueAttributes and exports it as gauges. SQS
// keeps these numbers; the consumer only relays them, so that alerts on a
// growing queue or a non-empty dead-letter queue need nothing but the
// Prometheus scrape the services already have.
//
// Sampling is best effort: a failed sample is logged and counted and the
// gauges keep their last value; it never stops or slows consuming.
package queuestats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
)

// Values of the "queue" label.
const (
	QueueMain       = "main"        // the queue the consumer reads
	QueueDeadLetter = "dead_letter" // the main queue's RedrivePolicy target
)

// Values of the "state" label, one per SQS approximate count.
const (
	StateVisible  = "visible"   // ApproximateNumberOfMessages: waiting to be received
	StateInFlight = "in_flight" // ApproximateNumberOfMessagesNotVisible: received, not yet deleted
	StateDelayed  = "delayed"   // ApproximateNumberOfMessagesDelayed: not yet deliverable
)

// MaxTimeout bounds one sample, so a hung SQS endpoint cannot pile up
// samples; a shorter interval shortens it further.
const MaxTimeout = 10 * time.Second

// API is the part of the SQS client the sampler uses.
type API interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// Metrics are the sampler's instruments.
type Metrics struct {
	// Messages is the last sampled count, by queue and state.
	Messages *prometheus.GaugeVec
	// SampleErrors counts failed samples, by queue.
	SampleErrors *prometheus.CounterVec
	// LastSample is the Unix time of the last successful sample, by queue;
	// how old the depth gauges are.
	LastSample *prometheus.GaugeVec
}

// NewMetrics registers the sampler's metrics under namespace.
func NewMetrics(reg prometheus.Registerer, namespace string) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "queue_messages",
			Help: "Approximate messages in the queue (main) and its dead-letter queue, by state (visible, in_flight, delayed), as SQS last reported them.",
		}, []string{"queue", "state"}),
		SampleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "queue_sample_errors_total",
			Help: "Failed queue depth samples, by queue (main, dead_letter).",
		}, []string{"queue"}),
		LastSample: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "queue_last_sample_timestamp_seconds",
			Help: "Unix time of the last successful queue depth sample, by queue.",
		}, []string{"queue"}),
	}
	// The main queue's error series exists from the start, so a rate() over
	// it is never missing data before the first failure.
	m.SampleErrors.WithLabelValues(QueueMain)
	reg.MustRegister(m.Messages, m.SampleErrors, m.LastSample)
	return m
}

// Options tune a Sampler.
type Options struct {
	// Interval between samples; the first is taken at once.
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time // default time.Now
}

// Sampler samples one queue and its dead-letter queue.
type Sampler struct {
	api      API
	queueURL string
	opt      Options
	m        *Metrics

	// The dead-letter queue last resolved, so its URL is looked up once,
	// not on every sample.
	dlqARN, dlqURL string
}

// New returns a Sampler of queueURL.
func New(api API, queueURL string, m *Metrics, opt Options) *Sampler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Sampler{api: api, queueURL: queueURL, opt: opt, m: m}
}

// Run samples at once and then every Interval until ctx is done. A
// non-positive Interval returns at once: sampling is off.
func (s *Sampler) Run(ctx context.Context) {
	if s.opt.Interval <= 0 {
		return
	}
	t := time.NewTicker(s.opt.Interval)
	defer t.Stop()
	for {
		if err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.opt.Logger.WarnContext(ctx, "queue depth sample failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// counts are the attributes sampled on both queues, mapped to their state.
var counts = map[types.QueueAttributeName]string{
	types.QueueAttributeNameApproximateNumberOfMessages:           StateVisible,
	types.QueueAttributeNameApproximateNumberOfMessagesNotVisible: StateInFlight,
	types.QueueAttributeNameApproximateNumberOfMessagesDelayed:    StateDelayed,
}

// Sample takes one sample of both queues and updates the gauges. Each
// failed queue is counted in SampleErrors; the error names them all.
func (s *Sampler) Sample(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.opt.Interval, MaxTimeout))
	defer cancel()

	attrs, err := s.attributes(ctx, s.queueURL, types.QueueAttributeNameRedrivePolicy)
	if err != nil {
		s.m.SampleErrors.WithLabelValues(QueueMain).Inc()
		// Without the main queue's attributes the redrive policy is
		// unknown too; the dead-letter gauges keep their last value.
		return fmt.Errorf("queue %s: %w", s.queueURL, err)
	}
	s.record(QueueMain, attrs)

	dlqURL, err := s.deadLetterURL(ctx, attrs[string(types.QueueAttributeNameRedrivePolicy)])
	if err == nil && dlqURL == "" {
		// No redrive policy (any more): no dead-letter series to report.
		s.m.Messages.DeletePartialMatch(prometheus.Labels{"queue": QueueDeadLetter})
		s.m.LastSample.DeleteLabelValues(QueueDeadLetter)
		return nil
	}
	if err == nil {
		attrs, err = s.attributes(ctx, dlqURL)
	}
	if err != nil {
		s.m.SampleErrors.WithLabelValues(QueueDeadLetter).Inc()
		return fmt.Errorf("dead-letter queue of %s: %w", s.queueURL, err)
	}
	s.record(QueueDeadLetter, attrs)
	return nil
}

func (s *Sampler) attributes(ctx context.Context, url string, extra ...types.QueueAttributeName) (map[string]string, error) {
	names := append([]types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}, extra...)
	out, err := s.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return nil, fmt.Errorf("get queue attributes: %w", err)
	}
	// Check every count before setting any, so a bad answer leaves the
	// gauges as they were rather than half updated.
	for name := range counts {
		v, ok := out.Attributes[string(name)]
		if !ok {
			return nil, fmt.Errorf("get queue attributes: no %s in the answer", name)
		}
		if _, err := strconv.ParseUint(v, 10, 63); err != nil {
			return nil, fmt.Errorf("get queue attributes: %s=%q is not a count", name, v)
		}
	}
	return out.Attributes, nil
}

// record sets queue's gauges from attributes already checked.
func (s *Sampler) record(queue string, attrs map[string]string) {
	for name, state := range counts {
		n, _ := strconv.ParseUint(attrs[string(name)], 10, 63)
		s.m.Messages.WithLabelValues(queue, state).Set(float64(n))
	}
	s.m.LastSample.WithLabelValues(queue).Set(float64(s.opt.Now().UnixNano()) / 1e9)
}

// deadLetterURL returns the URL of the queue a redrive policy names, ""
// for no policy. The URL is looked up by name and owner account with
// GetQueueUrl, since SQS keeps a dead-letter queue in its source queue's
// region, and remembered for as long as the policy names the same queue.
func (s *Sampler) deadLetterURL(ctx context.Context, policy string) (string, error) {
	if policy == "" {
		s.dlqARN, s.dlqURL = "", ""
		return "", nil
	}
	var p struct {
		DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return "", fmt.Errorf("RedrivePolicy %q: %w", policy, err)
	}
	if p.DeadLetterTargetARN == "" {
		return "", fmt.Errorf("RedrivePolicy %q names no deadLetterTargetArn", policy)
	}
	if p.DeadLetterTargetARN == s.dlqARN {
		return s.dlqURL, nil
	}
	account, name, err := parseQueueARN(p.DeadLetterTargetARN)
	if err != nil {
		return "", err
	}
	out, err := s.api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name), QueueOwnerAWSAccountId: aws.String(account)})
	if err != nil {
		return "", fmt.Errorf("get queue url of %s: %w", p.DeadLetterTargetARN, err)
	}
	url := aws.ToString(out.QueueUrl)
	if url == "" {
		return "", fmt.Errorf("get queue url of %s: empty answer", p.DeadLetterTargetARN)
	}
	s.dlqARN, s.dlqURL = p.DeadLetterTargetARN, url
	return url, nil
}

// parseQueueARN splits arn:<partition>:sqs:<region>:<account>:<name>.
func parseQueueARN(arn string) (account, name string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" || parts[5] == "" {
		return "", "", fmt.Errorf("deadLetterTargetArn %q is not an SQS queue ARN", arn)
	}
	return parts[4], parts[5], nil
}
