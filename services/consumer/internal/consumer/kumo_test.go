package consumer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/devops-exam/msgpipe/internal/kumotest"
	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/logging"
	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
	"github.com/devops-exam/msgpipe/services/consumer/internal/store"
)

// These tests run the consumer with the real store and deleter against
// kumo on loopback, in real time with short timeouts.

type kumoRig struct {
	env    *kumotest.Env
	queue  string
	bucket string
	m      *Metrics
	logs   *testkit.Buffer
	del    *deleter.Deleter
	cancel context.CancelFunc
	done   chan struct{}
}

// startKumo runs a consumer; wrapStore and wrapDel, if set, put a fault
// between it and the real store or deleter.
func startKumo(t *testing.T, wrapStore func(Store) Store, wrapDel func(Deleter) Deleter) *kumoRig {
	t.Helper()
	env := kumotest.Start(t)
	r := &kumoRig{
		env:    env,
		queue:  env.Queue(t, map[string]string{"VisibilityTimeout": "2"}),
		bucket: env.Bucket(t),
		m:      NewMetrics(prometheus.NewRegistry()),
		logs:   &testkit.Buffer{},
		done:   make(chan struct{}),
	}
	logger := logging.New(r.logs, slog.LevelDebug, "consumer")
	r.del = deleter.New(env.SQS, r.queue, deleter.Options{FlushInterval: 20 * time.Millisecond, Logger: logger, Deleted: r.m.Deletes})
	var st Store = store.New(env.S3, r.bucket, store.Encryption{Mode: "AES256"})
	if wrapStore != nil {
		st = wrapStore(st)
	}
	var del Deleter = r.del
	if wrapDel != nil {
		del = wrapDel(del)
	}
	c := New(env.SQS, st, del, Options{
		QueueURL:          r.queue,
		PollInterval:      time.Second,
		Concurrency:       4,
		VisibilityTimeout: 2 * time.Second,
		ShutdownTimeout:   time.Second,
		Logger:            logger,
		Metrics:           r.m,
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.del.Run()
	go func() {
		defer close(r.done)
		_ = c.Run(ctx)
		r.del.Close(context.Background())
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *kumoRig) stop() {
	r.cancel()
	<-r.done
}

func (r *kumoRig) send(t *testing.T, body string) string {
	t.Helper()
	out, err := r.env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(r.queue),
		MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			message.AttrRequestID: {DataType: aws.String("String"), StringValue: aws.String("req-kumo")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// messagesLeft counts the queue's messages, visible or not.
func (r *kumoRig) messagesLeft(t *testing.T) int {
	t.Helper()
	out, err := r.env.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(r.queue),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

func (r *kumoRig) keys(t *testing.T) []string {
	t.Helper()
	out, err := r.env.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (r *kumoRig) object(t *testing.T, key string) message.Stored {
	t.Helper()
	out, err := r.env.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	var doc message.Stored
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return doc
}

func TestKumoValidMessageIsStoredAndDeletedInvalidOneStays(t *testing.T) {
	r := startKumo(t, nil, nil)
	good := r.send(t, validBody)
	bad := r.send(t, `{"email_subject":"no sender"}`)

	testkit.Eventually(t, 10*time.Second, "the valid message stored and deleted", func() (bool, string) {
		return testutil.ToFloat64(r.m.Deletes) == 1 && testutil.ToFloat64(r.m.Failed.WithLabelValues(ReasonInvalid)) >= 1, ""
	})
	keys := r.keys(t)
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "/"+good+".json") {
		t.Fatalf("objects %v, want only %s", keys, good)
	}
	doc := r.object(t, keys[0])
	if doc.MessageID != good || doc.RequestID != "req-kumo" || doc.ReceiveCount != 1 ||
		doc.SchemaVersion != 1 || doc.Data.EmailSender != "ann@example.com" || doc.SentAt.IsZero() {
		t.Errorf("stored %+v", doc)
	}
	if keys[0] != message.KeyPrefix+doc.SentAt.UTC().Format("2006/01/02")+"/"+good+".json" {
		t.Errorf("key %s is not dated by sent_at %v", keys[0], doc.SentAt)
	}
	if n := r.messagesLeft(t); n != 1 {
		t.Errorf("%d messages left, want the invalid one", n)
	}
	if !strings.Contains(r.logs.String(), `"message_id":"`+bad+`"`) {
		t.Errorf("invalid message not logged by id")
	}
}

// loseFirstDelete drops the first delete, as if the DeleteMessageBatch
// reply had been lost, so SQS redelivers a message already stored.
type loseFirstDelete struct {
	Deleter
	mu   sync.Mutex
	lost bool
}

func (d *loseFirstDelete) Add(e deleter.Entry) {
	d.mu.Lock()
	lose := !d.lost
	d.lost = true
	d.mu.Unlock()
	if !lose {
		d.Deleter.Add(e)
	}
}

func TestKumoRedeliveryLandsOnTheSameKeyOnce(t *testing.T) {
	r := startKumo(t, nil, func(d Deleter) Deleter { return &loseFirstDelete{Deleter: d} })
	id := r.send(t, validBody)

	// The redelivery comes after the 2 s visibility timeout.
	testkit.Eventually(t, 15*time.Second, "the redelivered message deleted", func() (bool, string) {
		return testutil.ToFloat64(r.m.Deletes) == 1, ""
	})
	if n := testutil.ToFloat64(r.m.Stored); n != 2 {
		t.Errorf("stored %v times, want 2 (written, then found already stored)", n)
	}
	keys := r.keys(t)
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "/"+id+".json") {
		t.Fatalf("objects %v", keys)
	}
	if doc := r.object(t, keys[0]); doc.ReceiveCount != 1 {
		t.Errorf("object written by delivery %d, want the first to win", doc.ReceiveCount)
	}
	if !strings.Contains(r.logs.String(), `"already_stored":true`) {
		t.Errorf("the second delivery was not recognised as already stored")
	}
	testkit.Eventually(t, 5*time.Second, "queue empty", func() (bool, string) { return r.messagesLeft(t) == 0, "" })
}

// blockingStore never finishes a put before its context ends.
type blockingStore struct {
	Store
	started chan struct{}
}

func (s *blockingStore) Put(ctx context.Context, _ string, _ []byte) (bool, error) {
	close(s.started)
	<-ctx.Done()
	return false, ctx.Err()
}

func TestKumoShutdownLeavesAnUnstoredMessageInSQS(t *testing.T) {
	bs := &blockingStore{started: make(chan struct{})}
	r := startKumo(t, func(s Store) Store { bs.Store = s; return bs }, nil)
	r.send(t, validBody)
	select {
	case <-bs.started:
	case <-time.After(10 * time.Second):
		t.Fatal("put never started")
	}
	r.stop()
	if keys := r.keys(t); len(keys) != 0 {
		t.Fatalf("objects %v", keys)
	}
	if n := r.messagesLeft(t); n != 1 {
		t.Fatalf("%d messages left, want the unstored one", n)
	}
	if testutil.ToFloat64(r.m.Deletes) != 0 {
		t.Fatal("deleted a message whose object is missing")
	}
}

// The SDK sending one batch twice (a lost response it retried) enqueues two
// copies with two SQS MessageIds; the API's id and acceptance time put both
// on one key, stored once, and both copies are deleted.
func TestKumoBatchSentTwiceIsStoredOnce(t *testing.T) {
	r := startKumo(t, nil, nil)
	data := message.Data{EmailSubject: "Twice", EmailSender: "ann@example.com", EmailTimestream: "1", EmailContent: "once"}
	body, _ := data.Encode()
	const id = "0190c6a2-7b3e-7c4d-8e5f-00000000beef"
	in := &sqs.SendMessageBatchInput{
		QueueUrl: aws.String(r.queue),
		Entries: []types.SendMessageBatchRequestEntry{{
			Id:          aws.String("0"),
			MessageBody: aws.String(string(body)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				message.AttrMessageID:  {DataType: aws.String("String"), StringValue: aws.String(id)},
				message.AttrAcceptedAt: {DataType: aws.String("String"), StringValue: aws.String("2024-03-09T23:59:58.123Z")},
			},
		}},
	}
	var sqsIDs []string
	for range 2 {
		out, err := r.env.SQS.SendMessageBatch(context.Background(), in)
		if err != nil || len(out.Successful) != 1 {
			t.Fatalf("send: %v %+v", err, out)
		}
		sqsIDs = append(sqsIDs, aws.ToString(out.Successful[0].MessageId))
	}
	if sqsIDs[0] == sqsIDs[1] {
		t.Fatalf("the emulator gave both copies one MessageId %s", sqsIDs[0])
	}
	testkit.Eventually(t, 10*time.Second, "both copies handled", func() (bool, string) {
		n := r.messagesLeft(t)
		return n == 0, strconv.Itoa(n) + " left"
	})
	keys := r.keys(t)
	want := "messages/2024/03/09/" + id + ".json"
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys %v, want [%s]", keys, want)
	}
	if doc := r.object(t, want); doc.MessageID != id || doc.Data != data {
		t.Errorf("stored %+v", doc)
	}
	if v := testutil.ToFloat64(r.m.Stored); v != 2 {
		t.Errorf("stored counted %v times, want 2 (one write, one found there)", v)
	}
}
