package imagecheck_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// craftELF writes a minimal 64-bit little-endian executable: a PT_LOAD
// segment and, for a dynamic one, PT_INTERP plus a .dynamic section whose
// DT_NEEDED entries debug/elf can read. It keeps the tests hermetic (no
// cross-compiler, works inside a Bazel sandbox) and fast.
func craftELF(t testing.TB, machine elf.Machine, interp string, needed ...string) []byte {
	t.Helper()
	const ehsize, phentsize, shentsize = 64, 56, 64
	dynamic := len(needed) > 0

	nprogs := 1
	if interp != "" {
		nprogs++
	}
	if dynamic {
		nprogs++
	}
	var data bytes.Buffer // everything after the program headers
	base := uint64(ehsize + phentsize*nprogs)
	at := func() uint64 { return base + uint64(data.Len()) }

	interpOff := at()
	if interp != "" {
		data.WriteString(interp + "\x00")
	}
	dynstrOff := at()
	var names []uint64
	if dynamic {
		data.WriteByte(0)
		for _, n := range needed {
			names = append(names, uint64(data.Len())-(dynstrOff-base))
			data.WriteString(n + "\x00")
		}
	}
	dynstrSize := at() - dynstrOff
	dynOff := at()
	if dynamic {
		for _, off := range names {
			_ = binary.Write(&data, binary.LittleEndian, [2]uint64{uint64(elf.DT_NEEDED), off})
		}
		_ = binary.Write(&data, binary.LittleEndian, [2]uint64{uint64(elf.DT_NULL), 0})
	}
	dynSize := at() - dynOff

	type sect struct {
		name               string
		typ                elf.SectionType
		off, size, entsize uint64
		link               uint32
	}
	sects := []sect{{}}
	if interp != "" {
		sects = append(sects, sect{".interp", elf.SHT_PROGBITS, interpOff, uint64(len(interp) + 1), 0, 0})
	}
	if dynamic {
		sects = append(sects, sect{".dynstr", elf.SHT_STRTAB, dynstrOff, dynstrSize, 0, 0})
		sects = append(sects, sect{".dynamic", elf.SHT_DYNAMIC, dynOff, dynSize, 16, uint32(len(sects) - 1)})
	}
	shstrOff := at()
	var shstr bytes.Buffer
	nameOff := make([]uint32, len(sects)+1)
	shstr.WriteByte(0)
	for i, s := range append(sects, sect{name: ".shstrtab"}) {
		if i > 0 {
			nameOff[i] = uint32(shstr.Len())
			shstr.WriteString(s.name + "\x00")
		}
	}
	sects = append(sects, sect{".shstrtab", elf.SHT_STRTAB, shstrOff, uint64(shstr.Len()), 0, 0})
	data.Write(shstr.Bytes())
	for data.Len()%8 != 0 {
		data.WriteByte(0)
	}
	shoff := at()
	fileSize := shoff + uint64(shentsize*len(sects))

	var out bytes.Buffer
	w := func(v any) {
		if err := binary.Write(&out, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS], ident[elf.EI_DATA], ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	w(elf.Header64{
		Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Entry: 0x400000 + base, Phoff: ehsize, Shoff: shoff, Ehsize: ehsize,
		Phentsize: phentsize, Phnum: uint16(nprogs), Shentsize: shentsize,
		Shnum: uint16(len(sects)), Shstrndx: uint16(len(sects) - 1),
	})
	w(elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: 0x400000, Paddr: 0x400000, Filesz: fileSize, Memsz: fileSize, Align: 0x1000})
	if interp != "" {
		w(elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: interpOff, Vaddr: 0x400000 + interpOff, Filesz: uint64(len(interp) + 1), Memsz: uint64(len(interp) + 1), Align: 1})
	}
	if dynamic {
		w(elf.Prog64{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R | elf.PF_W), Off: dynOff, Vaddr: 0x400000 + dynOff, Filesz: dynSize, Memsz: dynSize, Align: 8})
	}
	out.Write(data.Bytes())
	for i, s := range sects {
		w(elf.Section64{Name: nameOff[i], Type: uint32(s.typ), Off: s.off, Size: s.size, Link: s.link, Addralign: 1, Entsize: s.entsize})
	}
	return out.Bytes()
}

// file is one tar entry; a trailing "/" makes a directory.
type file struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte
	symlink  string // target, for a symbolic link
	hardlink string // target, for a hard link
}

func layer(t testing.TB, files []file) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		switch {
		case strings.HasSuffix(f.name, "/"):
			h.Typeflag, h.Size = tar.TypeDir, 0
		case f.symlink != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.symlink, 0
		case f.hardlink != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, f.hardlink, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// spec describes a test image; good() returns one that keeps every promise.
type spec struct {
	arch       string // config architecture and descriptor platform
	indexArch  string // descriptor platform when it should differ from arch
	files      []file
	user       string
	entrypoint []string
	ports      []string
	labels     map[string]string
}

func machineFor(arch string) elf.Machine {
	if arch == "arm64" {
		return elf.EM_AARCH64
	}
	return elf.EM_X86_64
}

func good(t testing.TB, arch string) *spec {
	return &spec{
		arch: arch,
		files: []file{
			{name: "etc/", mode: 0o755},
			{name: "etc/passwd", mode: 0o644, body: []byte("nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")},
			{name: "app/", mode: 0o755},
			{name: "app/api", mode: 0o755, body: craftELF(t, machineFor(arch), "")},
		},
		user:       "65532",
		entrypoint: []string{"/app/api"},
		ports:      []string{"8080/tcp"},
		labels: map[string]string{
			"org.opencontainers.image.source":   "https://github.com/devops-exam/msgpipe",
			"org.opencontainers.image.title":    "api",
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
}

// setBinary replaces the entrypoint file's content.
func (s *spec) setBinary(b []byte) {
	for i := range s.files {
		if s.files[i].name == "app/api" {
			s.files[i].body = b
		}
	}
}

func (s *spec) image(t testing.TB) v1.Image {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer(t, s.files)})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", s.arch
	if s.arch == "arm64" {
		cf.Variant = "v8"
	}
	cf.Config.User = s.user
	cf.Config.Entrypoint = s.entrypoint
	cf.Config.Labels = s.labels
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range s.ports {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func platform(arch string) *v1.Platform {
	p := &v1.Platform{OS: "linux", Architecture: arch}
	if arch == "arm64" {
		p.Variant = "v8"
	}
	return p
}

func index(t testing.TB, specs ...*spec) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, s := range specs {
		arch := s.arch
		if s.indexArch != "" {
			arch = s.indexArch
		}
		idx = appendImage(idx, s.image(t), platform(arch))
	}
	return idx
}

func appendImage(idx v1.ImageIndex, img v1.Image, p *v1.Platform) v1.ImageIndex {
	return mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
}
