package requestid

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddlewareHonoursAValidID(t *testing.T) {
	var seen string
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = FromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(Header, "client-42:abc")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if seen != "client-42:abc" || rec.Header().Get(Header) != "client-42:abc" {
		t.Fatalf("context %q, echoed %q", seen, rec.Header().Get(Header))
	}
}

func TestMiddlewareReplacesMissingOrUnsafeIDs(t *testing.T) {
	for _, in := range []string{"", "has space", "line\nbreak", "<script>", strings.Repeat("a", MaxLen+1)} {
		var seen string
		h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = FromContext(r.Context())
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if in != "" {
			req.Header[Header] = []string{in}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if seen == in || !Valid(seen) || len(seen) != 32 {
			t.Errorf("input %q: got id %q", in, seen)
		}
		if rec.Header().Get(Header) != seen {
			t.Errorf("input %q: echoed %q, context %q", in, rec.Header().Get(Header), seen)
		}
	}
}

func TestNewIsUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if FromContext(context.Background()) != "" {
		t.Error("empty context has an id")
	}
}
