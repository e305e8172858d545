// Package proxybody makes a Go reverse proxy forward request bodies from
// memory, which the proxies in front of the AWS emulator need to forward
// every answer whole.
package proxybody

import (
	"bytes"
	"io"
	"net/http"
)

// maxBufferedBody bounds the request bodies InMemory reads into memory;
// a larger one is streamed.
const maxBufferedBody = 16 << 20

// InMemory reads each request body into memory before next, a reverse
// proxy, forwards it. Streamed, the body exposes the proxy's own transport to the
// race libs/awsconfig guards the services against: kumo answers before the
// transport's last read of the body, the transport closes its connection
// under the response, and the proxy cuts the answer short. Measured: about
// one ReceiveMessage in 20 drains of 2,000 messages came back truncated
// ("ReverseProxy read error during body copy: use of closed network
// connection"), and its messages stayed invisible for a visibility timeout.
// In memory, the whole request leaves in one write. Every proxy in front of
// the emulator needs it: internal/stack's and tools/bench's latency proxy.
func InMemory(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength > 0 && r.ContentLength <= maxBufferedBody {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			r.ContentLength = int64(len(b))
		}
		next.ServeHTTP(w, r)
	})
}
