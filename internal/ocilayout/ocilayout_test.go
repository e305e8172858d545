package ocilayout_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
	"github.com/devops-exam/msgpipe/internal/ocilayout"
)

// nested writes a two-image index the way rules_oci's oci_image_index does
// (index.json holding the index) and returns the directory and the index.
func nested(t *testing.T) (string, v1.ImageIndex) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 2)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	return dir, idx
}

// symlinked lays dir out as a sandboxed Bazel test sees a directory output.
func symlinked(t *testing.T, dir string) string {
	t.Helper()
	s, err := bazelsandbox.Build(t.TempDir(), map[string]string{"_main/images/idx": dir})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(s.Main, "images", "idx")
}

func child(t *testing.T, dir string) v1.ImageIndex {
	t.Helper()
	root, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	c, err := root.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenReadsRealAndSymlinkedLayoutsAlike(t *testing.T) {
	dir, idx := nested(t)
	want, _ := idx.Digest()
	for name, d := range map[string]string{"real files": dir, "one symlink per file": symlinked(t, dir)} {
		c := child(t, d)
		if got, _ := c.Digest(); got != want {
			t.Errorf("%s: digest %s, want %s", name, got, want)
		}
		if err := readAll(c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// readAll reads every image's config and layers to the end, which is where
// a wrong digest shows.
func readAll(idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if _, err := img.RawConfigFile(); err != nil {
			return err
		}
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func TestOpenRefusesABlobWhoseContentIsNotItsDigest(t *testing.T) {
	dir, idx := nested(t)
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	h, _ := layers[0].Digest()
	// A symlink that points anywhere else: the point of ggcr's refusal.
	other := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(other, []byte("not the layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blobs", "sha256", h.Hex)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, blob); err != nil {
		t.Fatal(err)
	}
	c := child(t, dir)
	got, err := c.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	l, err := got.LayerByDigest(h)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "content has digest") {
		t.Fatalf("reading a layer with foreign content: %v", err)
	}
}

func TestOpenNamesWhatIsWrong(t *testing.T) {
	if _, err := ocilayout.Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("empty directory: %v", err)
	}
	dir, idx := nested(t)
	root, err := ocilayout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Image(v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); err == nil || !strings.Contains(err.Error(), "could not find descriptor") {
		t.Errorf("unknown digest: %v", err)
	}
	d, _ := idx.Digest()
	if _, err := root.Image(d); err == nil || !strings.Contains(err.Error(), "unexpected media type") {
		t.Errorf("an index asked for as an image: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", d.Hex)); err != nil {
		t.Fatal(err)
	}
	if _, err := root.ImageIndex(d); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("missing blob: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"manifests":[{"digest":"md5:abc","mediaType":"application/vnd.oci.image.index.v1+json"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(dir); err == nil {
		t.Error("index.json with a malformed digest was accepted")
	}
}
