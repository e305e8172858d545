// Package ecrtest serves go-containerregistry's in-memory registry on
// loopback with the few ECR behaviours the pusher must cope with, and builds
// OCI layouts shaped like rules_oci's output. It is for tests only.
package ecrtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// Options choose the registry's behaviour. The zero value is an open,
// mutable registry that creates repositories on push.
type Options struct {
	// Username and Password, when set, are required as HTTP basic auth on
	// every request, the way ECR checks its tokens.
	Username, Password string
	// ImmutableTags makes a PUT that would move an existing tag fail with
	// ECR's TAG_INVALID error.
	ImmutableTags bool
	// Repositories, when non-nil, lists the only repositories that exist;
	// others answer NAME_UNKNOWN like ECR.
	Repositories []string
	// LieAboutTags makes HEAD and GET of an existing tag report a digest
	// other than the stored manifest's.
	LieAboutTags bool
}

// Registry is a running fake.
type Registry struct {
	// Host is host:port, e.g. 127.0.0.1:41234.
	Host string
	// URL is the base URL, usable as an ECR proxy endpoint.
	URL    string
	server *httptest.Server
}

// New starts a registry that is closed when the test ends.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(&handler{inner: inner, o: o})
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &Registry{Host: u.Host, URL: srv.URL, server: srv}
}

// Close stops the server early, e.g. to simulate an unreachable registry.
func (r *Registry) Close() { r.server.Close() }

type handler struct {
	inner http.Handler
	o     Options
}

// ecrError writes the registry error body ECR (and the distribution spec)
// uses.
func ecrError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != h.o.Username || p != h.o.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="https://ecr.test/",service="ecr.amazonaws.com"`)
			ecrError(w, http.StatusUnauthorized, "DENIED", "Your authorization token has expired. Reauthenticate and try again.")
			return
		}
	}
	repo, kind, ref := split(r.URL.Path)
	if repo != "" && h.o.Repositories != nil && !contains(h.o.Repositories, repo) {
		ecrError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '123456789012'", repo))
		return
	}
	isTag := kind == "manifests" && !strings.Contains(ref, ":")
	if isTag && r.Method == http.MethodPut && h.o.ImmutableTags {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			ecrError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if cur := h.currentDigest(r); cur != "" && cur != digestOf(body) {
			ecrError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", ref, repo))
			return
		}
	}
	if isTag && h.o.LieAboutTags && (r.Method == http.MethodHead || r.Method == http.MethodGet) {
		rec := httptest.NewRecorder()
		h.inner.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if rec.Code == http.StatusOK {
			w.Header().Set("Docker-Content-Digest", digestOf([]byte("not what you pushed")))
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	h.inner.ServeHTTP(w, r)
}

func (h *handler) currentDigest(r *http.Request) string {
	head := httptest.NewRequest(http.MethodHead, r.URL.String(), nil)
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, head)
	if rec.Code != http.StatusOK {
		return ""
	}
	return rec.Header().Get("Docker-Content-Digest")
}

// split parses /v2/<repo>/<kind>/<ref>, kind being manifests or blobs.
func split(path string) (repo, kind, ref string) {
	p, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", ""
	}
	for _, k := range []string{"/manifests/", "/blobs/uploads/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(p, k); i > 0 {
			return p[:i], strings.Trim(k, "/"), p[i+len(k):]
		}
	}
	return "", "", ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Index returns a random two-platform index (linux/amd64 and
// linux/arm64/v8), like rules_oci's oci_image_index.
func Index(t testing.TB) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(256, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx
}

// WriteNestedLayout writes dir as rules_oci does: index.json with a single
// entry, the image index.
func WriteNestedLayout(t testing.TB, dir string, idx v1.ImageIndex) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
}

// WriteFlatLayout writes dir with index.json listing the images directly.
func WriteFlatLayout(t testing.TB, dir string, idx v1.ImageIndex) {
	t.Helper()
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
}

// WriteImageLayout writes dir with index.json pointing at one image.
func WriteImageLayout(t testing.TB, dir string, img v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
}
