package push

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/devops-exam/msgpipe/internal/ocilayout"
)

// Manifest is an image or image index that can be pushed and tagged.
// v1.Image and v1.ImageIndex both satisfy it.
type Manifest interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
}

// Artifact is the one thing a layout directory asks to be pushed.
type Artifact struct {
	// Dir is the layout directory it was read from.
	Dir string
	// Manifest is the index (usual case) or single image to push.
	Manifest Manifest
	// Digest is the manifest's digest: what the registry must report back.
	Digest v1.Hash
	// MediaType is the manifest's media type.
	MediaType types.MediaType
	// Platforms lists the child images' platforms of an index; empty for an image.
	Platforms []string
}

// refNameAnnotation only means something inside a layout; it would make a
// rebuilt index differ from what another tool produces from the same images.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Load reads an OCI image layout. index.json may point at one image index
// (what rules_oci's oci_image_index writes), at several images (they are
// gathered into a new OCI index, platforms taken from their descriptors or
// configs), or at a single image. Every blob the artifact references must be
// present, so that a broken layout fails before anything is uploaded.
func Load(dir string) (*Artifact, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("layout %s: directory does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("layout %s: not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("layout %s: no index.json: not an OCI image layout", dir)
	}
	// Not ggcr's layout package: it refuses symlinked blobs, and a sandboxed
	// Bazel test lays out every file of the layout as a symlink.
	root, err := ocilayout.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("layout %s: index.json: %w", dir, err)
	}

	var m Manifest
	switch descs := im.Manifests; {
	case len(descs) == 0:
		return nil, fmt.Errorf("layout %s: index.json lists no manifests", dir)
	case len(descs) == 1 && descs[0].MediaType.IsIndex():
		m, err = root.ImageIndex(descs[0].Digest)
	case len(descs) == 1 && descs[0].MediaType.IsImage():
		m, err = root.Image(descs[0].Digest)
	default:
		m, err = gatherImages(root, descs)
	}
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	if err := checkBlobs(dir, m); err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}

	a := &Artifact{Dir: dir, Manifest: m}
	if a.Digest, err = m.Digest(); err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	if a.MediaType, err = m.MediaType(); err != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, err)
	}
	if ii, ok := m.(v1.ImageIndex); ok {
		cm, err := ii.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("layout %s: %w", dir, err)
		}
		for _, d := range cm.Manifests {
			if d.Platform != nil {
				a.Platforms = append(a.Platforms, d.Platform.String())
			}
		}
	}
	return a, nil
}

func gatherImages(root v1.ImageIndex, descs []v1.Descriptor) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(descs))
	for _, d := range descs {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("index.json lists %d manifests and %s is a %s; want one index or only images", len(descs), d.Digest, d.MediaType)
		}
		img, err := root.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		if d.Platform == nil {
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", d.Digest, err)
			}
			d.Platform = cf.Platform()
		}
		d.Annotations = withoutRefName(d.Annotations)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: d})
	}
	return mutate.AppendManifests(empty.Index, adds...), nil
}

func withoutRefName(a map[string]string) map[string]string {
	if _, ok := a[refNameAnnotation]; !ok {
		return a
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		if k != refNameAnnotation {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkBlobs walks the manifest tree and stats each referenced blob, without
// reading layer contents.
func checkBlobs(dir string, m Manifest) error {
	has := func(h v1.Hash) error {
		if _, err := os.Stat(filepath.Join(dir, "blobs", h.Algorithm, h.Hex)); err != nil {
			return fmt.Errorf("blob %s is missing", h)
		}
		return nil
	}
	switch m := m.(type) {
	case v1.ImageIndex:
		im, err := m.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			var err error
			switch {
			case d.MediaType.IsIndex():
				var child v1.ImageIndex
				if child, err = m.ImageIndex(d.Digest); err == nil {
					err = checkBlobs(dir, child)
				}
			case d.MediaType.IsImage():
				var child v1.Image
				if child, err = m.Image(d.Digest); err == nil {
					err = checkBlobs(dir, child)
				}
			default:
				err = has(d.Digest)
			}
			if err != nil {
				return err
			}
		}
	case v1.Image:
		mf, err := m.Manifest()
		if err != nil {
			return err
		}
		if err := has(mf.Config.Digest); err != nil {
			return err
		}
		for _, l := range mf.Layers {
			if !l.MediaType.IsDistributable() || len(l.URLs) > 0 {
				continue
			}
			if err := has(l.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// Describe is a one-line summary for dry runs and logs.
func (a *Artifact) Describe() string {
	kind := "image"
	if a.MediaType.IsIndex() {
		kind = "index"
	}
	if len(a.Platforms) == 0 {
		return kind
	}
	return kind + " [" + strings.Join(a.Platforms, ", ") + "]"
}
