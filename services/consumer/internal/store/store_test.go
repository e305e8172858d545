package store

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/devops-exam/msgpipe/internal/kumotest"
)

func TestPutFirstWriteWins(t *testing.T) {
	env := kumotest.Start(t)
	bucket := env.Bucket(t)
	s := New(env.S3, bucket, Encryption{Mode: "AES256"})
	ctx := context.Background()
	key := "messages/2024/01/15/id-1.json"

	existed, err := s.Put(ctx, key, []byte(`{"first":true}`))
	if err != nil || existed {
		t.Fatalf("first put: existed=%v err=%v", existed, err)
	}
	existed, err = s.Put(ctx, key, []byte(`{"second":true}`))
	if err != nil || !existed {
		t.Fatalf("second put: existed=%v err=%v, want already stored", existed, err)
	}

	out, err := env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(out.Body)
	if string(body) != `{"first":true}` {
		t.Errorf("body = %s, want the first write", body)
	}
	if ct := aws.ToString(out.ContentType); ct != "application/json" {
		t.Errorf("content type = %q", ct)
	}
}

func TestPutErrorNamesTheObject(t *testing.T) {
	env := kumotest.Start(t)
	s := New(env.S3, kumotest.Name("missing"), Encryption{Mode: "AES256"})
	existed, err := s.Put(context.Background(), "messages/k.json", []byte(`{}`))
	if err == nil || existed {
		t.Fatalf("existed=%v err=%v, want an error", existed, err)
	}
	if !strings.Contains(err.Error(), "put s3://missing-") || !strings.Contains(err.Error(), "/messages/k.json") {
		t.Errorf("error %q does not name the object", err)
	}
}

type capture struct {
	in   *s3.PutObjectInput
	head *s3.HeadObjectInput
	err  error
}

func (c *capture) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c.in = in
	return &s3.PutObjectOutput{}, c.err
}

func (c *capture) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c.head = in
	return &s3.HeadObjectOutput{}, c.err
}

func TestPutRequest(t *testing.T) {
	for _, tc := range []struct {
		enc     Encryption
		wantSSE types.ServerSideEncryption
		wantKey string
	}{
		{Encryption{Mode: "AES256"}, types.ServerSideEncryptionAes256, ""},
		{Encryption{Mode: "aws:kms", KMSKeyID: "alias/msgpipe"}, types.ServerSideEncryptionAwsKms, "alias/msgpipe"},
	} {
		t.Run(tc.enc.Mode, func(t *testing.T) {
			c := &capture{}
			if _, err := New(c, "bkt", tc.enc).Put(context.Background(), "k", []byte("abc")); err != nil {
				t.Fatal(err)
			}
			in := c.in
			if aws.ToString(in.Bucket) != "bkt" || aws.ToString(in.Key) != "k" ||
				aws.ToString(in.IfNoneMatch) != "*" || aws.ToString(in.ContentType) != "application/json" ||
				aws.ToInt64(in.ContentLength) != 3 {
				t.Errorf("request %+v", in)
			}
			if in.ServerSideEncryption != tc.wantSSE || aws.ToString(in.SSEKMSKeyId) != tc.wantKey {
				t.Errorf("SSE %q key %q, want %q %q", in.ServerSideEncryption, aws.ToString(in.SSEKMSKeyId), tc.wantSSE, tc.wantKey)
			}
		})
	}
}

// apiError and statusError have the methods of the SDK's error types that
// the store looks at.
type apiError struct{ code string }

func (e *apiError) Error() string     { return "api error " + e.code }
func (e *apiError) ErrorCode() string { return e.code }

type statusError struct{ status int }

func (e *statusError) Error() string       { return http.StatusText(e.status) }
func (e *statusError) HTTPStatusCode() int { return e.status }

type codedStatusError struct {
	code   string
	status int
}

func (e *codedStatusError) Error() string       { return e.code }
func (e *codedStatusError) ErrorCode() string   { return e.code }
func (e *codedStatusError) HTTPStatusCode() int { return e.status }

// Only 412 means "already stored". A 409 ConditionalRequestConflict means a
// conflicting write is still in progress and may yet fail: it is an error
// the caller retries (ErrConflict), never a success. Failures of S3 itself
// (no answer, 5xx, throttling, timeouts) are ErrUnavailable, the rest are
// plain errors.
func TestPutOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		wantExisted bool
		wantErr     error // nil: success; errPlain: an error neither sentinel marks
	}{
		{"412 by code", &apiError{"PreconditionFailed"}, true, nil},
		{"412 by status", &statusError{http.StatusPreconditionFailed}, true, nil},
		{"409 conditional conflict", &codedStatusError{"ConditionalRequestConflict", http.StatusConflict}, false, ErrConflict},
		{"409 other conflict", &codedStatusError{"OperationAborted", http.StatusConflict}, false, errPlain},
		{"403", &codedStatusError{"AccessDenied", http.StatusForbidden}, false, errPlain},
		{"400", &apiError{"InvalidRequest"}, false, errPlain},
		{"500", &statusError{http.StatusInternalServerError}, false, ErrUnavailable},
		{"503 slow down", &codedStatusError{"SlowDown", http.StatusServiceUnavailable}, false, ErrUnavailable},
		{"throttled by code", &apiError{"ThrottlingException"}, false, ErrUnavailable},
		{"429", &statusError{http.StatusTooManyRequests}, false, ErrUnavailable},
		{"network", errors.New("connection reset"), false, ErrUnavailable},
		{"timeout", context.DeadlineExceeded, false, ErrUnavailable},
		{"cancelled", context.Canceled, false, errPlain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			existed, err := New(&capture{err: tc.err}, "bkt", Encryption{Mode: "AES256"}).Put(context.Background(), "k", nil)
			if existed != tc.wantExisted || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("existed=%v err=%v", existed, err)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v does not wrap %v", err, tc.err)
			}
			for _, sentinel := range []error{ErrConflict, ErrUnavailable} {
				if errors.Is(err, sentinel) != (tc.wantErr == sentinel) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, !(tc.wantErr == sentinel))
				}
			}
		})
	}
}

var errPlain = errors.New("a plain error")

// A probe succeeds whenever S3 answers, even 404 or 403: it asks whether
// S3 is reachable, not whether the probe key exists or may be read.
func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"found", nil, true},
		{"404", &codedStatusError{"NotFound", http.StatusNotFound}, true},
		{"403", &codedStatusError{"Forbidden", http.StatusForbidden}, true},
		{"503", &codedStatusError{"SlowDown", http.StatusServiceUnavailable}, false},
		{"network", errors.New("dial tcp: connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &capture{err: tc.err}
			err := New(c, "bkt", Encryption{Mode: "AES256"}).Probe(context.Background())
			if (err == nil) != tc.ok {
				t.Fatalf("Probe = %v", err)
			}
			if aws.ToString(c.head.Bucket) != "bkt" || aws.ToString(c.head.Key) != ProbeKey {
				t.Errorf("probe request %+v", c.head)
			}
		})
	}
}

func TestProbeAgainstKumo(t *testing.T) {
	env := kumotest.Start(t)
	if err := New(env.S3, env.Bucket(t), Encryption{Mode: "AES256"}).Probe(context.Background()); err != nil {
		t.Fatalf("Probe against a healthy S3: %v", err)
	}
}
