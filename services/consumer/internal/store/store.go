// Package store writes stored messages to S3, once per key: a conditional
// write (If-None-Match: *) lets the first writer win, so a redelivered
// message never overwrites what an earlier delivery stored. It also tells
// the caller why a write failed: a conflict to retry, S3 itself failing, or
// anything else.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// API is the S3 calls the store makes: PutObject to store, HeadObject to
// probe.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// ProbeKey is the key Probe asks about. Nothing is ever written there: any
// answer from S3, 404 or 403 included, shows S3 is reachable.
const ProbeKey = "messages/.probe"

var (
	// ErrConflict marks a 409 ConditionalRequestConflict: a conflicting
	// write to the key is still in progress. It may yet fail, so the
	// object is not known to exist; AWS's advice is to retry.
	ErrConflict = errors.New("conflicting write in progress")
	// ErrUnavailable marks a failure of S3 itself rather than of the
	// request: no answer, a 5xx, throttling or a timeout. Retrying the
	// same message elsewhere will not help until S3 recovers.
	ErrUnavailable = errors.New("S3 unavailable")
)

// Encryption selects server-side encryption for every object.
type Encryption struct {
	// Mode is "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
	Mode string
	// KMSKeyID is the key for SSE-KMS; ignored for AES256.
	KMSKeyID string
}

// Store puts JSON documents into one bucket.
type Store struct {
	api    API
	bucket string
	enc    Encryption
}

// New returns a Store writing to bucket through api.
func New(api API, bucket string, enc Encryption) *Store {
	return &Store{api: api, bucket: bucket, enc: enc}
}

// Put writes body under key unless an object is already there. existed is
// true when an earlier write won (412); that is success, since keys are
// derived from the message and the earlier object holds the same message.
// An error wraps ErrConflict or ErrUnavailable when one of them applies.
func (s *Store) Put(ctx context.Context, key string, body []byte) (existed bool, err error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/json"),
		IfNoneMatch:   aws.String("*"),
	}
	if s.enc.Mode == string(types.ServerSideEncryptionAwsKms) {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.enc.KMSKeyID)
	} else {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	}
	if _, err := s.api.PutObject(ctx, in); err != nil {
		switch {
		case alreadyStored(err):
			return true, nil
		case conflict(err):
			return false, fmt.Errorf("put s3://%s/%s: %w: %w", s.bucket, key, ErrConflict, err)
		case unavailable(err):
			return false, fmt.Errorf("put s3://%s/%s: %w: %w", s.bucket, key, ErrUnavailable, err)
		}
		return false, fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return false, nil
}

// Probe asks S3 about ProbeKey and reports an error only when S3 itself is
// unavailable: a 404 or 403 is an answer, and an answer is all it wants.
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(ProbeKey)})
	if err != nil && unavailable(err) {
		return fmt.Errorf("probe s3://%s: %w: %w", s.bucket, ErrUnavailable, err)
	}
	return nil
}

// alreadyStored recognises the answer S3 gives a conditional write that
// lost: 412 PreconditionFailed, the object exists. Nothing else means that;
// a 409 in particular does not (see conflict).
//
// The SDK's error types are matched by the methods they expose
// (smithy.APIError's ErrorCode, the HTTP response error's HTTPStatusCode),
// which keeps this package to the SDK modules it already uses.
func alreadyStored(err error) bool {
	if errorCode(err) == "PreconditionFailed" {
		return true
	}
	return httpStatus(err) == http.StatusPreconditionFailed
}

// conflict recognises 409 ConditionalRequestConflict. Other 409s, such as
// OperationAborted, are ordinary failures.
func conflict(err error) bool {
	return errorCode(err) == "ConditionalRequestConflict"
}

// unavailableCodes are S3's error codes for its own trouble.
var unavailableCodes = map[string]bool{
	"InternalError": true, "ServiceUnavailable": true, "SlowDown": true, "RequestTimeout": true,
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true, "TooManyRequests": true,
}

// unavailable reports a dependency failure: S3 did not answer (a network
// error, or the caller's deadline), answered 5xx or 429, or throttled. A
// cancelled context is the caller stopping, not S3 failing.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code, status := errorCode(err), httpStatus(err)
	switch {
	case unavailableCodes[code]:
		return true
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return true
	case code != "" || status != 0:
		return false // S3 answered, and refused this request
	default:
		return true // no answer at all
	}
}

func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return status.HTTPStatusCode()
	}
	return 0
}
