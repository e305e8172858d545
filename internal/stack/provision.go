package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Region is the region every local client and child process uses.
const Region = "us-east-1"

// Fake credentials: the emulator checks none, but the SDK refuses to sign
// without some.
const (
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// DefaultMaxReceiveCount is the redrive threshold the infrastructure uses.
const DefaultMaxReceiveCount = 5

// LocalConfig returns an SDK configuration for endpoint with fake static
// credentials and nothing read from the environment or ~/.aws, so a
// developer's real profile can never be used against the emulator, nor the
// emulator's fake keys against AWS.
func LocalConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Source: "msgpipe-local"}, nil
		}),
	}
}

// Clients are the SDK clients for one emulator endpoint.
type Clients struct {
	SQS *sqs.Client
	S3  *s3.Client
	SSM *ssm.Client
}

// NewClients returns clients for endpoint; S3 uses path-style addressing
// because the emulator serves no bucket.host virtual hosts.
func NewClients(endpoint string) Clients {
	cfg := LocalConfig(endpoint)
	return Clients{
		SQS: sqs.NewFromConfig(cfg),
		S3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		SSM: ssm.NewFromConfig(cfg),
	}
}

// Names are the resources to create. Zero fields take the defaults of the
// system this replaces.
type Names struct {
	Queue           string // the DLQ is Queue + "-dlq"
	Bucket          string
	Parameter       string
	Token           string // "" generates one
	MaxReceiveCount int
}

// Defaults used by tools/devstack: the names the README's local commands
// use. They differ from the deployed ones on purpose, so a command copied
// from a local session cannot name a real queue or bucket by accident.
const (
	DefaultQueue     = "msgpipe-messages"
	DefaultBucket    = "msgpipe-messages"
	DefaultParameter = "/msgpipe/local/api-token"
)

// Resources are what Provision created.
type Resources struct {
	QueueURL        string
	QueueARN        string
	DLQURL          string
	DLQARN          string
	Bucket          string
	Parameter       string
	Token           string
	MaxReceiveCount int
}

// NewToken returns 32 random bytes, base64url without padding: safe in a
// shell, a URL and JSON without quoting.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Provision creates the queue with its dead-letter queue, the bucket and the
// SecureString token parameter. Creating what already exists with the same
// settings succeeds, so a restarted launcher can provision again.
func Provision(ctx context.Context, c Clients, n Names) (Resources, error) {
	if n.Queue == "" {
		n.Queue = DefaultQueue
	}
	if n.Bucket == "" {
		n.Bucket = DefaultBucket
	}
	if n.Parameter == "" {
		n.Parameter = DefaultParameter
	}
	if n.Token == "" {
		n.Token = NewToken()
	}
	if n.MaxReceiveCount == 0 {
		n.MaxReceiveCount = DefaultMaxReceiveCount
	}
	r := Resources{Bucket: n.Bucket, Parameter: n.Parameter, Token: n.Token, MaxReceiveCount: n.MaxReceiveCount}

	var err error
	if r.DLQURL, r.DLQARN, err = createQueue(ctx, c.SQS, n.Queue+"-dlq", map[string]string{
		// Fourteen days, as a DLQ should keep what nobody has looked at yet.
		"MessageRetentionPeriod": "1209600",
	}); err != nil {
		return r, err
	}
	redrive, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": r.DLQARN,
		"maxReceiveCount":     strconv.Itoa(n.MaxReceiveCount),
	})
	if err != nil {
		return r, fmt.Errorf("redrive policy: %w", err)
	}
	if r.QueueURL, r.QueueARN, err = createQueue(ctx, c.SQS, n.Queue, map[string]string{
		"RedrivePolicy": string(redrive),
	}); err != nil {
		return r, err
	}

	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(n.Bucket)}); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return r, fmt.Errorf("create bucket %s: %w", n.Bucket, err)
		}
	}

	if _, err := c.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(n.Parameter),
		Type:      ssmtypes.ParameterTypeSecureString,
		Value:     aws.String(n.Token),
		Overwrite: aws.Bool(true),
	}); err != nil {
		return r, fmt.Errorf("put parameter %s: %w", n.Parameter, err)
	}
	return r, nil
}

func createQueue(ctx context.Context, c *sqs.Client, name string, attrs map[string]string) (queueURL, arn string, err error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	queueURL = aws.ToString(out.QueueUrl)
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("queue %s attributes: %w", name, err)
	}
	arn = got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", "", fmt.Errorf("queue %s has no ARN", name)
	}
	return queueURL, arn, nil
}

// QueueDepth is what SQS reports about a queue's messages.
type QueueDepth struct {
	Visible, NotVisible, Delayed int
}

// Total is every message the queue still holds.
func (d QueueDepth) Total() int { return d.Visible + d.NotVisible + d.Delayed }

// Depth reads the queue's approximate message counts.
func Depth(ctx context.Context, c *sqs.Client, queueURL string) (QueueDepth, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return QueueDepth{}, fmt.Errorf("queue attributes %s: %w", queueURL, err)
	}
	var d QueueDepth
	for name, dst := range map[sqstypes.QueueAttributeName]*int{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages:           &d.Visible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible: &d.NotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed:    &d.Delayed,
	} {
		if v, ok := out.Attributes[string(name)]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return QueueDepth{}, fmt.Errorf("queue attribute %s=%q: %w", name, v, err)
			}
			*dst = n
		}
	}
	return d, nil
}
