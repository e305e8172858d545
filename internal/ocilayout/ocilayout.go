// Package ocilayout reads an OCI image layout directory whose files may be
// symlinks, as they are in a sandboxed Bazel test's runfiles, where every
// file of a directory output is its own symlink.
//
// go-containerregistry's layout package (v0.21.7 and later) refuses a blob
// that is a symlink, so that a layout cannot make a reader open a file
// outside it. This package follows the symlink instead and keeps the
// guarantee that matters to a reader: every blob it returns is verified
// against the digest that names it, so a link to anything else fails.
package ocilayout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Open reads dir/index.json and returns it as an image index whose images,
// child indexes and layers are read from dir/blobs on demand.
func Open(dir string) (v1.ImageIndex, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	return newIndex(store(dir), raw, types.OCIImageIndex)
}

// store is a layout directory.
type store string

func (s store) path(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != sha256.Size*2 {
		return "", fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	if _, err := hex.DecodeString(h.Hex); err != nil {
		return "", fmt.Errorf("blob %s: malformed digest", h)
	}
	return filepath.Join(string(s), "blobs", h.Algorithm, h.Hex), nil
}

// open opens the blob named h, following symlinks. Its content is checked
// against h as it is read: a reader that reaches EOF on other bytes gets an
// error instead of io.EOF.
func (s store) open(h v1.Hash) (io.ReadCloser, error) {
	p, err := s.path(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s is missing", h)
		}
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob %s is not a regular file", h)
	}
	return &verified{f: f, want: h, h: sha256.New()}, nil
}

func (s store) bytes(h v1.Hash) ([]byte, error) {
	rc, err := s.open(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// verified hashes what is read and, at EOF, compares it with the digest.
type verified struct {
	f    *os.File
	want v1.Hash
	h    hash.Hash
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("blob %s: content has digest sha256:%s", v.want, got)
		}
	}
	return n, err
}

func (v *verified) Close() error { return v.f.Close() }

type index struct {
	s   store
	raw []byte
	mt  types.MediaType
	im  *v1.IndexManifest
}

func newIndex(s store, raw []byte, mt types.MediaType) (*index, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if im.MediaType != "" {
		mt = im.MediaType
	}
	return &index{s: s, raw: raw, mt: mt, im: im}, nil
}

func (i *index) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *index) Digest() (v1.Hash, error)            { return partial.Digest(i) }
func (i *index) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *index) RawManifest() ([]byte, error)        { return i.raw, nil }

// IndexManifest returns a fresh copy, so a caller that edits it changes
// nothing here.
func (i *index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *index) find(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range i.im.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("could not find descriptor in index: %s", h)
}

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	d, err := i.find(h)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsImage() {
		return nil, fmt.Errorf("unexpected media type for %v: %s", h, d.MediaType)
	}
	raw, err := i.s.bytes(h)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&image{s: i.s, desc: d, raw: raw})
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := i.find(h)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("unexpected media type for %v: %s", h, d.MediaType)
	}
	raw, err := i.s.bytes(h)
	if err != nil {
		return nil, err
	}
	return newIndex(i.s, raw, d.MediaType)
}

// image is a partial.CompressedImageCore over a manifest blob.
type image struct {
	s    store
	desc v1.Descriptor
	raw  []byte

	once sync.Once
	m    *v1.Manifest
	err  error
}

func (im *image) MediaType() (types.MediaType, error) { return im.desc.MediaType, nil }
func (im *image) RawManifest() ([]byte, error)        { return im.raw, nil }

func (im *image) manifest() (*v1.Manifest, error) {
	im.once.Do(func() { im.m, im.err = v1.ParseManifest(bytes.NewReader(im.raw)) })
	return im.m, im.err
}

func (im *image) RawConfigFile() ([]byte, error) {
	m, err := im.manifest()
	if err != nil {
		return nil, err
	}
	return im.s.bytes(m.Config.Digest)
}

func (im *image) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := im.manifest()
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &blob{s: im.s, desc: m.Config}, nil
	}
	for _, d := range m.Layers {
		if d.Digest == h {
			return &blob{s: im.s, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("could not find layer in image: %s", h)
}

// blob is a layer or config, read when asked for.
type blob struct {
	s    store
	desc v1.Descriptor
}

func (b *blob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *blob) Compressed() (io.ReadCloser, error)  { return b.s.open(b.desc.Digest) }
func (b *blob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *blob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *blob) Descriptor() (*v1.Descriptor, error) { d := b.desc; return &d, nil }
