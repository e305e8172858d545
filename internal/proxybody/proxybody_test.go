package proxybody

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The proxy hands its transport the body in memory (GetBody set, length
// known), so the request leaves in one write, and forwards it unchanged.
func TestInMemoryForwardsTheBodyFromMemory(t *testing.T) {
	var got []byte
	var getBody bool
	var length int64
	h := InMemory(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		getBody, length = r.GetBody != nil, r.ContentLength
		got, _ = io.ReadAll(r.Body)
	}))
	body := strings.Repeat("x", 10_000)
	req := httptest.NewRequest(http.MethodPost, "/", struct{ io.Reader }{strings.NewReader(body)})
	req.ContentLength = int64(len(body))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if string(got) != body || !getBody || length != int64(len(body)) {
		t.Errorf("forwarded %d bytes (GetBody %v, length %d), want the %d sent from memory", len(got), getBody, length, len(body))
	}
}
