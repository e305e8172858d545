package push_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
	"github.com/devops-exam/msgpipe/internal/runfiles"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtest"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/push"
)

func TestLoadOfRulesOCILayoutYieldsTheNestedIndex(t *testing.T) {
	idx := ecrtest.Index(t)
	dir := t.TempDir()
	ecrtest.WriteNestedLayout(t, dir, idx)
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if a.Digest != want {
		t.Errorf("digest %s, want the nested index %s", a.Digest, want)
	}
	if got := a.Describe(); got != "index [linux/amd64, linux/arm64/v8]" {
		t.Errorf("Describe = %q", got)
	}
}

func TestLoadOfFlatLayoutGathersImagesIntoAnIndex(t *testing.T) {
	dir := t.TempDir()
	ecrtest.WriteFlatLayout(t, dir, ecrtest.Index(t))
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.MediaType.IsIndex() {
		t.Fatalf("media type %s, want an index", a.MediaType)
	}
	if !slices.Equal(a.Platforms, []string{"linux/amd64", "linux/arm64/v8"}) {
		t.Errorf("platforms %v", a.Platforms)
	}
	again, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != a.Digest {
		t.Errorf("gathered index digest is not stable: %s then %s", a.Digest, again.Digest)
	}
}

func TestLoadOfSingleImageLayoutYieldsTheImage(t *testing.T) {
	idx := ecrtest.Index(t)
	im, _ := idx.IndexManifest()
	img, _ := idx.Image(im.Manifests[1].Digest)
	dir := t.TempDir()
	ecrtest.WriteImageLayout(t, dir, img)
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != im.Manifests[1].Digest || !a.MediaType.IsImage() || a.Describe() != "image" {
		t.Errorf("got %s %s %q, want the image %s", a.Digest, a.MediaType, a.Describe(), im.Manifests[1].Digest)
	}
}

func TestLoadRejectsBrokenLayouts(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noIndex := filepath.Join(tmp, "noindex")
	if err := os.Mkdir(noIndex, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	missingBlob := filepath.Join(tmp, "missingblob")
	idx := ecrtest.Index(t)
	ecrtest.WriteNestedLayout(t, missingBlob, idx)
	im, _ := idx.IndexManifest()
	img, _ := idx.Image(im.Manifests[0].Digest)
	layers, _ := img.Layers()
	h, _ := layers[0].Digest()
	if err := os.Remove(filepath.Join(missingBlob, "blobs", h.Algorithm, h.Hex)); err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(tmp, "mixed")
	ecrtest.WriteNestedLayout(t, mixed, idx)
	if err := layout.Path(mixed).AppendIndex(ecrtest.Index(t)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(tmp, "absent"), "directory does not exist"},
		{file, "not a directory"},
		{noIndex, "not an OCI image layout"},
		{empty, "lists no manifests"},
		{missingBlob, "blob " + h.String() + " is missing"},
		{mixed, "want one index or only images"},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			_, err := push.Load(tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "layout "+tc.dir+": ") {
				t.Fatalf("err = %v, want %q naming the layout", err, tc.want)
			}
		})
	}
}

func TestLoadOfFlatLayoutDropsRefNamesAndTakesPlatformsFromConfigs(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "api:" + arch})); err != nil {
			t.Fatal(err)
		}
	}
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", a.Platforms)
	}
	raw, err := a.Manifest.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "ref.name") {
		t.Errorf("pushed index keeps layout ref names: %s", raw)
	}
}

// TestLoadInABazelSandbox reads the layouts the way //images:push would see
// them under a sandboxed `bazel test`: every blob its own symlink, found
// through the rlocation path. (`bazel run` links the directory once, which
// hid this.)
func TestLoadInABazelSandbox(t *testing.T) {
	idx := ecrtest.Index(t)
	nested, flat := t.TempDir(), t.TempDir()
	ecrtest.WriteNestedLayout(t, nested, idx)
	ecrtest.WriteFlatLayout(t, flat, idx)
	bazelsandbox.Enter(t, map[string]string{
		"_main/images/api_index":      nested,
		"_main/images/consumer_index": flat,
	})
	want, _ := idx.Digest()
	for _, rloc := range []string{"_main/images/api_index", "_main/images/consumer_index"} {
		dir, err := runfiles.Rlocation(rloc)
		if err != nil {
			t.Fatal(err)
		}
		a, err := push.Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", rloc, err)
		}
		if rloc == "_main/images/api_index" && a.Digest != want {
			t.Errorf("%s: digest %s, want %s", rloc, a.Digest, want)
		}
		if got := a.Describe(); got != "index [linux/amd64, linux/arm64/v8]" {
			t.Errorf("%s: Describe = %q", rloc, got)
		}
		// Pushing reads every layer through the symlinks too.
		reg := ecrtest.New(t, ecrtest.Options{Username: user, Password: password, Repositories: []string{repoName}})
		if _, err := pusher(reg, password).Push(t.Context(), repoName, a, []string{"abc123"}); err != nil {
			t.Fatalf("%s: Push: %v", rloc, err)
		}
	}
}
