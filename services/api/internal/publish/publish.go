// Package publish puts accepted messages on the SQS queue.
package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/devops-exam/msgpipe/libs/message"
)

// Sender is the one SQS call the publisher needs.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Timeout bounds one SendMessage, retries included. The SDK's HTTP client has
// no deadline of its own, and a client waiting on a hung connection is
// better served by a prompt 503 it can retry than by the server's write
// timeout cutting it off.
const Timeout = 10 * time.Second

// Publisher sends messages to one queue.
type Publisher struct {
	client    Sender
	queueURL  string
	timeout   time.Duration
	published prometheus.Counter
	failed    prometheus.Counter
}

// New returns a Publisher for queueURL, registering its counters in reg.
func New(client Sender, queueURL string, reg prometheus.Registerer, namespace string) *Publisher {
	p := &Publisher{
		client:   client,
		queueURL: queueURL,
		timeout:  Timeout,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "messages_published_total",
			Help: "Messages SQS accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "publish_errors_total",
			Help: "SendMessage calls that failed; the client got 503.",
		}),
	}
	reg.MustRegister(p.published, p.failed)
	return p
}

// Publish sends d with the request id as a message attribute and returns
// SQS's MessageId. It returns only after SQS has accepted the message.
func (p *Publisher) Publish(ctx context.Context, d message.Data, requestID string) (string, error) {
	body, err := d.Encode()
	if err != nil {
		p.failed.Inc()
		return "", err
	}
	attrs := map[string]types.MessageAttributeValue{
		message.AttrSchemaVersion: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(message.SchemaVersion))},
	}
	if requestID != "" {
		attrs[message.AttrRequestID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(requestID)}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, err := p.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(p.queueURL),
		MessageBody:       aws.String(string(body)),
		MessageAttributes: attrs,
	})
	if err == nil && (out == nil || aws.ToString(out.MessageId) == "") {
		err = errors.New("SQS returned no message id")
	}
	if err != nil {
		p.failed.Inc()
		return "", fmt.Errorf("send message to %s: %w", p.queueURL, err)
	}
	p.published.Inc()
	return *out.MessageId, nil
}
