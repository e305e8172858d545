package awsconfig

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// MaxBufferedBody is the largest request body sent from memory: more than
// any SQS or SSM call and any object the consumer stores. A larger body is
// streamed as the SDK hands it over.
const MaxBufferedBody = 1 << 20

// bufferingClient hands net/http every request body of up to max bytes as
// an in-memory reader, read in full before the request leaves.
//
// Why: the SDK gives net/http a body it does not recognise as in-memory, so
// net/http sends the headers first and streams the body, and makes its
// final read of the body only after the copy. When the server answers
// before that read, Do returns and the SDK closes the body; the final read
// then fails with io.EOF, net/http takes it for a write error and closes
// the connection while the response body is still being read. The SDK
// classes the resulting "use of closed network connection" as retryable
// and sends the call again: a ReceiveMessage whose first batch is already
// in flight (stuck until its visibility timeout), or a SendMessage enqueued
// twice (aws-sdk-go-v2 issue #2737). With the body in memory net/http
// writes the whole request in one flush after every read of it, and the
// SDK's close no longer touches what net/http reads.
type bufferingClient struct {
	next aws.HTTPClient
	max  int64
}

func (c *bufferingClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength > c.max {
		return c.next.Do(req)
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, c.max+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if req.ContentLength > 0 && int64(len(buf)) < req.ContentLength {
		return nil, fmt.Errorf("read request body: %d bytes, %d announced", len(buf), req.ContentLength)
	}
	out := *req // a shallow copy: the caller's request stays as it was
	if int64(len(buf)) > c.max {
		// Longer than announced (unknown length): send what was read,
		// then the rest, as a stream.
		out.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return c.next.Do(&out)
	}
	out.Body = io.NopCloser(bytes.NewReader(buf))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	out.ContentLength = int64(len(buf))
	if len(buf) == 0 {
		out.Body, out.GetBody = http.NoBody, nil
	}
	return c.next.Do(&out)
}
