// Package store writes stored messages to S3, once per key: a conditional
// write (If-None-Match: *) lets the first writer win, so a redelivered
// message never overwrites what an earlier delivery stored.
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

// PutAPI is the one S3 call the store makes.
type PutAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Encryption selects server-side encryption for every object.
type Encryption struct {
	// Mode is "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
	Mode string
	// KMSKeyID is the key for SSE-KMS; ignored for AES256.
	KMSKeyID string
}

// Store puts JSON documents into one bucket.
type Store struct {
	api    PutAPI
	bucket string
	enc    Encryption
}

// New returns a Store writing to bucket through api.
func New(api PutAPI, bucket string, enc Encryption) *Store {
	return &Store{api: api, bucket: bucket, enc: enc}
}

// Put writes body under key unless an object is already there. existed is
// true when an earlier write won; that is success, since keys are derived
// from the message and the earlier object holds the same message.
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
		if alreadyStored(err) {
			return true, nil
		}
		return false, fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return false, nil
}

// alreadyStored recognises the answers S3 gives a conditional write that
// lost: 412 PreconditionFailed when the object exists, and 409
// ConditionalRequestConflict when a concurrent write to the same key is in
// progress (which, for a derived key, is another delivery of this message).
// Other 409s, such as OperationAborted, are real failures.
//
// The SDK's error types are matched by the methods they expose
// (smithy.APIError's ErrorCode, the HTTP response error's HTTPStatusCode),
// which keeps this package to the SDK modules it already uses.
func alreadyStored(err error) bool {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		switch coded.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() == http.StatusPreconditionFailed
}
