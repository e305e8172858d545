// Package check is the end-to-end release check: it follows one uniquely
// marked message from the API through SQS and the consumer to its object in
// S3, verifies every stored field, makes sure refused requests never reach
// S3, and cleans up. The output keeps the five numbered steps of the check
// the original system ran before each release, so people who know that
// output can read this one.
package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/devops-exam/msgpipe/libs/message"
	"github.com/devops-exam/msgpipe/libs/requestid"
)

// S3API is the part of the S3 client the check uses: read the object,
// list the day's objects for refused markers, delete the test object.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// SQSAPI reads queue depth for step 2's report.
type SQSAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Defaults.
const (
	DefaultTimeout = 60 * time.Second
	DefaultPoll    = time.Second
	// firstPoll is the wait before the second look for the object; each
	// wait after doubles, up to Poll.
	firstPoll       = 10 * time.Millisecond
	DefaultProgress = 5 * time.Second
	// maxScanned bounds the objects read while looking for refused
	// markers, so a busy bucket cannot make the check run for ever.
	maxScanned = 2000
	// clockSkew is how far S3's and SQS's clocks may be from ours.
	clockSkew = 5 * time.Minute
)

// Config is one run of the check.
type Config struct {
	APIURL   string // e.g. http://127.0.0.1:8080 or http://<ALB DNS>
	Token    string
	Bucket   string
	QueueURL string // optional: step 2 then reports the queue's depth

	HTTP *http.Client // nil: a client with a 30s timeout
	S3   S3API
	SQS  SQSAPI // used only with QueueURL

	Timeout  time.Duration // how long to wait for the object (60s)
	Poll     time.Duration // how often to look for it, at most (1s); the first looks come sooner
	Progress time.Duration // how often to say it is still waiting (5s)

	Out io.Writer
	Now func() time.Time // nil: time.Now
}

// Result describes a passed run.
type Result struct {
	MessageID  string
	Key        string
	Processing time.Duration // from the API's 200 to the object found
	Total      time.Duration
	Scanned    int // objects checked for refused markers
}

// Failure is a failed step. Its Error is the line the check prints.
type Failure struct {
	Step   string // "step 3", "cleanup", "setup"
	Name   string
	Reason error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("E2E TEST FAILED at %s (%s): %v", f.Step, f.Name, f.Reason)
}

func (f *Failure) Unwrap() error { return f.Reason }

func fail(step int, name string, format string, args ...any) *Failure {
	return &Failure{Step: fmt.Sprintf("step %d", step), Name: name, Reason: fmt.Errorf(format, args...)}
}

// Step names, used in failures.
const (
	StepSend    = "send message"
	StepSQS     = "confirm SQS"
	StepWait    = "wait for Service 2"
	StepFound   = "read S3 object"
	StepVerify  = "verify S3 content"
	StepCleanup = "delete test object"
)

const banner = "============================================================"

type run struct {
	Config
	id        string // unique marker of this run
	requestID string
	start     time.Time
}

// Run executes the check, printing its progress to cfg.Out. The error is a
// *Failure.
func Run(ctx context.Context, cfg Config) (Result, error) {
	r := &run{Config: cfg}
	r.defaults()
	r.start = r.Now()
	res, err := r.run(ctx)
	res.Total = r.Now().Sub(r.start)
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Step: "setup", Name: "run", Reason: err}
		}
		r.printf("\n%s\n%s\n%s\n", banner, f.Error(), banner)
		return res, f
	}
	r.printf("\n%s\nE2E TEST PASSED\n%s\n", banner, banner)
	r.printf("Message traveled successfully:\n  API (Service 1) → SQS → Service 2 → S3\n")
	r.printf("Total processing time: ~%s\n%s\n", seconds(res.Total), banner)
	return res, nil
}

func (r *run) defaults() {
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultTimeout
	}
	if r.Poll <= 0 {
		r.Poll = DefaultPoll
	}
	if r.Progress <= 0 {
		r.Progress = DefaultProgress
	}
	if r.Out == nil {
		r.Out = io.Discard
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	r.APIURL = strings.TrimRight(r.APIURL, "/")
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.id = hex.EncodeToString(b[:])
	r.requestID = "e2e-" + r.id
}

func (r *run) printf(format string, args ...any) { fmt.Fprintf(r.Out, format, args...) }

// Markers carried by the refused requests; finding one in S3 means a
// refused request was queued after all.
func (r *run) wrongTokenMarker() string { return "e2e-refused-token-" + r.id }
func (r *run) invalidMarker() string    { return "e2e-refused-invalid-" + r.id }

func (r *run) run(ctx context.Context) (Result, error) {
	var res Result
	if r.S3 == nil || r.APIURL == "" || r.Bucket == "" {
		return res, &Failure{Step: "setup", Name: "configuration", Reason: errors.New("API URL, bucket and S3 client are required")}
	}

	// Step 1. The refused requests go first: if one were queued by mistake,
	// it would be ahead of the good message and stored before it, so by
	// step 5 it would be in S3 for the scan to find.
	r.printf("[1/5] Sending message to Service 1 API...\n")
	if err := r.expectRefused(ctx, "wrong token", http.StatusUnauthorized, r.refusedBody(r.wrongTokenMarker(), "not-the-token-"+r.id, true)); err != nil {
		return res, err
	}
	if err := r.expectRefused(ctx, "invalid payload", http.StatusBadRequest, r.refusedBody(r.invalidMarker(), r.Token, false)); err != nil {
		return res, err
	}
	sent := message.Data{
		EmailSubject:    "E2E test " + r.id,
		EmailSender:     "e2e-check@example.com",
		EmailTimestream: r.start.UTC().Format(time.RFC3339),
		EmailContent:    "End-to-end check " + r.id + " sent at " + r.start.UTC().Format(time.RFC3339Nano) + ".\nIt is deleted when the check ends.",
	}
	sendStart := r.Now()
	id, wantRequestID, err := r.send(ctx, sent)
	if err != nil {
		return res, err
	}
	accepted := r.Now()
	res.MessageID = id

	// Step 2. The API answers 200 only after SQS accepted the message, so
	// the id is SQS's receipt; the queue's depth is extra evidence when the
	// caller may read it.
	r.printf("\n[2/5] Message sent successfully to SQS\n")
	if r.QueueURL != "" && r.SQS != nil {
		r.reportDepth(ctx)
	}

	// Steps 3 and 4.
	r.printf("\n[3/5] Waiting for Service 2 to process message...\n")
	key, body, err := r.waitForObject(ctx, id, sendStart, accepted)
	if err != nil {
		return res, err
	}
	res.Key = key
	res.Processing = r.Now().Sub(accepted)
	r.printf("\n[4/5] Message found in S3!\n")
	r.printf("      S3 Key: %s\n", key)
	r.printf("      Processing time: ~%s\n", seconds(res.Processing))

	// Step 5.
	r.printf("\n[5/5] Verifying S3 file content...\n")
	verr := verify(body, key, id, wantRequestID, sent, sendStart.Add(-clockSkew), r.Now().Add(clockSkew))
	if verr == nil {
		r.printf("      Content verified successfully!\n")
		res.Scanned, verr = r.scanRefused(ctx, sendStart)
	}
	// The test object goes whatever the verdict, so a failed run leaves no
	// more behind than a passed one.
	cerr := r.cleanup(ctx, key)
	if verr != nil {
		return res, verr
	}
	return res, cerr
}

func (r *run) refusedBody(marker, token string, valid bool) []byte {
	sender := "e2e-check@example.com"
	if !valid {
		sender = "not-an-address" // the one defect: a 400 for any other reason would hide a bug
	}
	b, _ := json.Marshal(map[string]any{
		"data": map[string]string{
			"email_subject":    "E2E refused request " + marker,
			"email_sender":     sender,
			"email_timestream": r.start.UTC().Format(time.RFC3339),
			"email_content":    "Must never be stored: " + marker,
		},
		"token": token,
	})
	return b
}

type apiResponse struct {
	status    int
	body      []byte
	requestID string
}

func (r *run) post(ctx context.Context, body []byte, reqID string) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.APIURL+"/api/message", bytes.NewReader(body))
	if err != nil {
		return apiResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(requestid.Header, reqID)
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return apiResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return apiResponse{}, fmt.Errorf("read response: %w", err)
	}
	return apiResponse{status: resp.StatusCode, body: b, requestID: resp.Header.Get(requestid.Header)}, nil
}

func (r *run) expectRefused(ctx context.Context, what string, want int, body []byte) error {
	resp, err := r.post(ctx, body, r.requestID+"-refused")
	if err != nil {
		return fail(1, StepSend, "%s: POST %s/api/message: %v", what, r.APIURL, err)
	}
	if resp.status != want {
		return fail(1, StepSend, "%s: got status %d, want %d: %s%s", what, resp.status, want, snippet(resp.body), tokenHint(resp.status))
	}
	var e struct {
		Error   *string           `json:"error"`
		Details []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(resp.body, &e); err != nil || e.Error == nil || *e.Error == "" || e.Details == nil {
		return fail(1, StepSend, `%s: status %d without the {"error":...,"details":[...]} body: %s`, what, want, snippet(resp.body))
	}
	title := strings.ToUpper(what[:1]) + what[1:]
	r.printf("      %s refused: %d\n", title, resp.status)
	return nil
}

func (r *run) send(ctx context.Context, d message.Data) (id, requestID string, err error) {
	body, err := json.Marshal(struct {
		Data  message.Data `json:"data"`
		Token string       `json:"token"`
	}{d, r.Token})
	if err != nil {
		return "", "", fail(1, StepSend, "encode request: %v", err)
	}
	resp, err := r.post(ctx, body, r.requestID)
	if err != nil {
		return "", "", fail(1, StepSend, "POST %s/api/message: %v", r.APIURL, err)
	}
	r.printf("      Response status: %d\n", resp.status)
	if resp.status != http.StatusOK {
		return "", "", fail(1, StepSend, "got status %d, want 200: %s%s", resp.status, snippet(resp.body), tokenHint(resp.status))
	}
	var out struct {
		Status    string `json:"status"`
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return "", "", fail(1, StepSend, "response is not JSON: %v: %s", err, snippet(resp.body))
	}
	if out.Status != "queued" {
		return "", "", fail(1, StepSend, `response status %q, want "queued"`, out.Status)
	}
	if _, err := message.ObjectKey(out.MessageID, r.start); err != nil {
		return "", "", fail(1, StepSend, "response carries no usable message_id: %v", err)
	}
	r.printf("      Message ID: %s\n", out.MessageID)
	requestID = r.requestID
	if resp.requestID != "" {
		// The API may replace an id it does not accept; what it echoes
		// is what it passed on.
		requestID = resp.requestID
	}
	return out.MessageID, requestID, nil
}

func (r *run) reportDepth(ctx context.Context) {
	out, err := r.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(r.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		// Reading queue attributes needs a permission the check does not
		// otherwise require; its absence proves nothing about the message.
		r.printf("      (queue depth unavailable: %v)\n", err)
		return
	}
	r.printf("      Queue depth: %s waiting, %s in flight\n",
		orZero(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]),
		orZero(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]))
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// candidateKeys are the keys the message can have: its date is SQS's
// SentTimestamp, which falls between our send and the 200, give or take
// clock skew, and may sit on either side of midnight UTC.
func candidateKeys(id string, from, to time.Time) []string {
	var keys []string
	seen := map[string]bool{}
	for _, t := range []time.Time{from.Add(-clockSkew), from, to, to.Add(clockSkew)} {
		k, err := message.ObjectKey(id, t)
		if err == nil && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func (r *run) waitForObject(ctx context.Context, id string, sendStart, accepted time.Time) (string, []byte, error) {
	keys := candidateKeys(id, sendStart, accepted)
	began := r.Now()
	nextProgress := r.Progress
	var lastErr error
	// The pipeline stores a message in milliseconds, so the first looks
	// come quickly and space out to Poll: a check against a local stack
	// reports the real processing time, not one poll interval.
	wait := min(firstPoll, r.Poll)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		for _, key := range keys {
			body, err := r.get(ctx, key)
			if err == nil {
				return key, body, nil
			}
			if !isNotFound(err) {
				lastErr = err
			}
		}
		elapsed := r.Now().Sub(began)
		for elapsed >= nextProgress && nextProgress <= r.Timeout {
			r.printf("      Waiting... (%ds / %ds)\n", int(nextProgress/time.Second), int(r.Timeout/time.Second))
			nextProgress += r.Progress
		}
		if elapsed >= r.Timeout {
			reason := fmt.Sprintf("no object at %s after %s", strings.Join(keys, " or "), r.Timeout)
			if lastErr != nil {
				reason += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			return "", nil, fail(3, StepWait, "%s", reason)
		}
		select {
		case <-ctx.Done():
			return "", nil, fail(3, StepWait, "interrupted: %v", context.Cause(ctx))
		case <-timer.C:
		}
		wait = min(2*wait, r.Poll)
		timer.Reset(wait)
	}
}

func (r *run) get(ctx context.Context, key string) ([]byte, error) {
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(key)},
		// Objects written without a checksum (the consumer's, the
		// emulator's) would print an SDK notice into the check's output.
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 1<<20))
}

func isNotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// verify compares every field of the stored document with what was sent.
func verify(body []byte, key, id, requestID string, sent message.Data, earliest, latest time.Time) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var got message.Stored
	if err := dec.Decode(&got); err != nil {
		return fail(5, StepVerify, "stored object is not a message.Stored document: %v: %s", err, snippet(body))
	}
	var problems []string
	mismatch := func(field string, got, want any) {
		problems = append(problems, fmt.Sprintf("%s is %q, want %q", field, fmt.Sprint(got), fmt.Sprint(want)))
	}
	if got.SchemaVersion != message.SchemaVersion {
		mismatch("schema_version", got.SchemaVersion, message.SchemaVersion)
	}
	if got.MessageID != id {
		mismatch("message_id", got.MessageID, id)
	}
	if got.RequestID != requestID {
		mismatch("request_id", got.RequestID, requestID)
	}
	if got.Data.EmailSubject != sent.EmailSubject {
		mismatch("data.email_subject", got.Data.EmailSubject, sent.EmailSubject)
	}
	if got.Data.EmailSender != sent.EmailSender {
		mismatch("data.email_sender", got.Data.EmailSender, sent.EmailSender)
	}
	if got.Data.EmailTimestream != sent.EmailTimestream {
		mismatch("data.email_timestream", got.Data.EmailTimestream, sent.EmailTimestream)
	}
	if got.Data.EmailContent != sent.EmailContent {
		mismatch("data.email_content", got.Data.EmailContent, sent.EmailContent)
	}
	switch {
	case got.SentAt.Before(earliest) || got.SentAt.After(latest):
		problems = append(problems, fmt.Sprintf("sent_at %s is outside the test's window [%s, %s]",
			got.SentAt.Format(time.RFC3339Nano), earliest.Format(time.RFC3339), latest.Format(time.RFC3339)))
	default:
		if want, _ := message.ObjectKey(id, got.SentAt); want != key {
			problems = append(problems, fmt.Sprintf("stored under %s but its sent_at %s says %s", key, got.SentAt.Format(time.RFC3339Nano), want))
		}
	}
	if got.StoredAt.Before(got.SentAt.Add(-clockSkew)) || got.StoredAt.After(latest) {
		problems = append(problems, fmt.Sprintf("stored_at %s is not between sent_at %s and now",
			got.StoredAt.Format(time.RFC3339Nano), got.SentAt.Format(time.RFC3339Nano)))
	}
	if got.ReceiveCount < 1 {
		problems = append(problems, fmt.Sprintf("receive_count is %d, want at least 1", got.ReceiveCount))
	}
	if len(problems) > 0 {
		return fail(5, StepVerify, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// scanRefused reads the objects stored since the test began under the
// test's date prefixes and fails if any carries a refused request's marker.
func (r *run) scanRefused(ctx context.Context, since time.Time) (int, error) {
	markers := [][]byte{[]byte(r.wrongTokenMarker()), []byte(r.invalidMarker())}
	prefixes := map[string]bool{}
	for _, t := range []time.Time{since.Add(-clockSkew), r.Now().Add(clockSkew)} {
		prefixes[message.KeyPrefix+t.UTC().Format("2006/01/02")+"/"] = true
	}
	scanned := 0
	for prefix := range prefixes {
		p := s3.NewListObjectsV2Paginator(r.S3, &s3.ListObjectsV2Input{Bucket: aws.String(r.Bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return scanned, fail(5, StepVerify, "list %s to look for refused requests: %v", prefix, err)
			}
			for _, obj := range page.Contents {
				if obj.LastModified != nil && obj.LastModified.Before(since.Add(-clockSkew)) {
					continue
				}
				if scanned >= maxScanned {
					r.printf("      Refused requests absent from S3 (stopped after %d objects)\n", scanned)
					return scanned, nil
				}
				key := aws.ToString(obj.Key)
				body, err := r.get(ctx, key)
				if isNotFound(err) {
					continue // deleted since the listing
				}
				if err != nil {
					return scanned, fail(5, StepVerify, "read %s to look for refused requests: %v", key, err)
				}
				scanned++
				for _, m := range markers {
					if bytes.Contains(body, m) {
						return scanned, fail(5, StepVerify, "a refused request reached S3: %s carries %s", key, m)
					}
				}
			}
		}
	}
	r.printf("      Refused requests absent from S3 (%s checked)\n", plural(scanned, "object"))
	return scanned, nil
}

func (r *run) cleanup(ctx context.Context, key string) error {
	r.printf("\n[Cleanup] Deleting test file from S3...\n")
	if _, err := r.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(key)}); err != nil {
		return &Failure{Step: "cleanup", Name: StepCleanup, Reason: fmt.Errorf("delete s3://%s/%s: %w", r.Bucket, key, err)}
	}
	r.printf("         Test file deleted\n")
	return nil
}

// seconds renders d as the original check did ("15 seconds"), with a
// decimal or two below ten seconds, where local runs land.
func seconds(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s < 1:
		return fmt.Sprintf("%.3f seconds", s)
	case s < 10:
		return fmt.Sprintf("%.1f seconds", s)
	default:
		return fmt.Sprintf("%.0f seconds", s)
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// tokenHint names the likeliest cause of a 401 where the check sent the
// configured token.
func tokenHint(status int) string {
	if status == http.StatusUnauthorized {
		return " (is API_TOKEN the value of the SSM parameter the API reads?)"
	}
	return ""
}
