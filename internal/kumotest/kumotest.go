// Package kumotest starts the in-process kumo AWS emulator for tests and
// creates uniquely named queues, buckets and parameters in it. kumo keeps
// its services process-wide: a second kumo.NewServer rewires them while the
// first one's background notifications still read them (a data race under
// -race). So the emulator comes from internal/stack, which fronts the one
// kumo server of the process, and unique names keep tests apart.
package kumotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/devops-exam/msgpipe/internal/stack"
)

// Region is the region every test client uses.
const Region = stack.Region

// Env is a running emulator with clients pointed at it.
type Env struct {
	URL string
	SQS *sqs.Client
	S3  *s3.Client
	SSM *ssm.Client
}

var (
	once   sync.Once
	shared *Env
)

// Start returns the emulator shared by the test binary, serving on
// loopback, starting it on first use. It lives until the process exits.
func Start(t testing.TB) *Env {
	t.Helper()
	once.Do(func() { shared = start() })
	return shared
}

func start() *Env {
	e, err := stack.StartEmulator("127.0.0.1:0", nil)
	if err != nil {
		panic(fmt.Sprintf("kumotest: start the emulator: %v", err))
	}
	c := stack.NewClients(e.URL)
	return &Env{URL: e.URL, SQS: c.SQS, S3: c.S3, SSM: c.SSM}
}

// Name returns prefix followed by random hex, a valid queue or bucket name.
func Name(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Queue creates a queue with attrs (e.g. "VisibilityTimeout") and returns
// its URL.
func (e *Env) Queue(t testing.TB, attrs map[string]string) string {
	t.Helper()
	out, err := e.SQS.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(Name("q")),
		Attributes: attrs,
	})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

// Bucket creates a bucket and returns its name.
func (e *Env) Bucket(t testing.TB) string {
	t.Helper()
	name := Name("b")
	if _, err := e.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// Parameter stores value as a SecureString under a unique name and returns
// the name.
func (e *Env) Parameter(t testing.TB, value string) string {
	t.Helper()
	name := "/" + Name("kumotest") + "/token"
	if _, err := e.SSM.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString,
	}); err != nil {
		t.Fatalf("put parameter: %v", err)
	}
	return name
}

// UseFromEnvironment points the AWS SDK's default configuration at the
// emulator for the rest of the test, with fake credentials and no shared
// config files, the way the services are configured locally.
func (e *Env) UseFromEnvironment(t testing.TB) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            e.URL,
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  Region,
		"AWS_CONFIG_FILE":             "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
}
