package kumotest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartSharesOneServerAndNamesAreUnique(t *testing.T) {
	a, b := Start(t), Start(t)
	if a != b {
		t.Fatal("Start made a second server; kumo's global services would race")
	}
	q1, q2 := a.Queue(t, map[string]string{"VisibilityTimeout": "2"}), a.Queue(t, nil)
	if q1 == q2 || !strings.HasPrefix(q1, "http://") {
		t.Fatalf("queues %q %q", q1, q2)
	}
	if p1, p2 := a.Parameter(t, "v"), a.Parameter(t, "v"); p1 == p2 {
		t.Fatalf("parameters share the name %q", p1)
	}
	bucket := a.Bucket(t)
	if _, err := a.S3.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
}
