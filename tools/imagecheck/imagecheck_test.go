package imagecheck_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/devops-exam/msgpipe/internal/runfiles"
	"github.com/devops-exam/msgpipe/tools/imagecheck"
)

var want = imagecheck.Expectations{Name: "api", Port: "8080/tcp"}

func rules(probs []imagecheck.Problem) []string {
	var out []string
	for _, p := range probs {
		out = append(out, p.Where+" "+p.Rule)
	}
	slices.Sort(out)
	return out
}

func dump(probs []imagecheck.Problem) string {
	var b strings.Builder
	for _, p := range probs {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

func TestGoodIndexHasNoProblems(t *testing.T) {
	probs := imagecheck.CheckIndex(index(t, good(t, "amd64"), good(t, "arm64")), want)
	if len(probs) != 0 {
		t.Fatalf("problems:%s", dump(probs))
	}
}

func TestCraftedELFIsReadAsIntended(t *testing.T) {
	f, err := elf.NewFile(strings.NewReader(string(craftELF(t, elf.EM_AARCH64, "/lib/ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6"))))
	if err != nil {
		t.Fatal(err)
	}
	libs, err := f.ImportedLibraries()
	if err != nil || !slices.Equal(libs, []string{"libc.so.6", "libm.so.6"}) || f.Machine != elf.EM_AARCH64 {
		t.Fatalf("libs %v (%v), machine %v", libs, err, f.Machine)
	}
}

// TestBadImagesReportTheBrokenPromise breaks one promise per case, in the
// arm64 image only, and expects exactly the matching problems.
func TestBadImagesReportTheBrokenPromise(t *testing.T) {
	const arm = "linux/arm64/v8"
	for _, tc := range []struct {
		name   string
		breakf func(*spec)
		want   []string
		detail string
	}{
		{"root user", func(s *spec) { s.user = "0" }, []string{arm + " user"}, `config user is "0"`},
		{"empty user", func(s *spec) { s.user = "" }, []string{arm + " user"}, `config user is ""`},
		{"user with group passes", func(s *spec) { s.user = "65532:65532" }, nil, ""},
		{"no entrypoint", func(s *spec) { s.entrypoint = nil }, []string{arm + " entrypoint"}, "entrypoint is empty"},
		{"shell-form entrypoint", func(s *spec) { s.entrypoint = []string{"/bin/sh", "-c", "/app/api"} }, []string{arm + " entrypoint", arm + " entrypoint"}, "runs a shell"},
		{"relative entrypoint", func(s *spec) { s.entrypoint = []string{"app/api"} }, []string{arm + " entrypoint"}, "not an absolute path"},
		{"missing entrypoint file", func(s *spec) { s.entrypoint = []string{"/app/consumer"} }, []string{arm + " entrypoint"}, "/app/consumer does not exist"},
		{"entrypoint is a directory", func(s *spec) { s.entrypoint = []string{"/app"} }, []string{arm + " entrypoint"}, "not a regular file"},
		{"non-executable entrypoint", func(s *spec) { s.files[3].mode = 0o644 }, []string{arm + " entrypoint"}, "not executable by user"},
		{"entrypoint executable by root only", func(s *spec) { s.files[3].mode = 0o750 }, []string{arm + " entrypoint"}, "mode 0750, owner 0:0"},
		{"entrypoint owned by nonroot passes", func(s *spec) { s.files[3].mode, s.files[3].uid = 0o700, 65532 }, nil, ""},
		{"dynamically linked", func(s *spec) {
			s.setBinary(craftELF(t, elf.EM_AARCH64, "/lib/ld-linux-aarch64.so.1", "libc.so.6"))
		}, []string{arm + " static", arm + " static"}, "dynamically linked (interpreter /lib/ld-linux-aarch64.so.1)"},
		{"needs libraries without interpreter", func(s *spec) { s.setBinary(craftELF(t, elf.EM_AARCH64, "", "libc.so.6")) }, []string{arm + " static"}, "needs shared libraries [libc.so.6]"},
		{"not an ELF", func(s *spec) { s.setBinary([]byte("#!/bin/sh\necho hi\n")) }, []string{arm + " static"}, "not an ELF executable"},
		{"wrong arch binary", func(s *spec) { s.setBinary(craftELF(t, elf.EM_X86_64, "")) }, []string{arm + " arch"}, "built for EM_X86_64, platform wants arm64"},
		{"shell present", func(s *spec) {
			s.files = append(s.files, file{name: "bin/sh", mode: 0o755, body: []byte("x")})
		}, []string{arm + " shell"}, "/bin/sh is present"},
		{"busybox behind merged usr", func(s *spec) {
			s.files = append(s.files, file{name: "bin", symlink: "usr/bin"}, file{name: "usr/bin/busybox", mode: 0o755, body: []byte("x")})
		}, []string{arm + " shell"}, "/bin/busybox is present"},
		{"port missing", func(s *spec) { s.ports = []string{"9090/tcp"} }, []string{arm + " port"}, "8080/tcp is not in ExposedPorts [9090/tcp]"},
		{"label missing", func(s *spec) { delete(s.labels, imagecheck.LabelLicenses) }, []string{arm + " label"}, "org.opencontainers.image.licenses is missing"},
		{"title names another service", func(s *spec) { s.labels[imagecheck.LabelTitle] = "consumer" }, []string{arm + " label"}, `is "consumer", want "api"`},
		{"config arch disagrees with index", func(s *spec) { s.indexArch, s.arch = "arm64", "amd64" }, []string{arm + " arch"}, "config is linux/amd64 but the index says linux/arm64/v8"},
		{"entrypoint through symlink passes", func(s *spec) {
			s.files = append(s.files, file{name: "usr/local/bin/api", symlink: "../../../app/api"})
			s.entrypoint = []string{"/usr/local/bin/api"}
		}, nil, ""},
		{"entrypoint through hard link passes", func(s *spec) {
			s.files = append(s.files, file{name: "bin/api", hardlink: "app/api"})
			s.entrypoint = []string{"/bin/api"}
		}, nil, ""},
		{"symlink loop", func(s *spec) {
			s.files = append(s.files, file{name: "a", symlink: "b"}, file{name: "b", symlink: "a"})
			s.entrypoint = []string{"/a"}
		}, []string{arm + " entrypoint"}, "too many levels of symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good(t, "arm64")
			tc.breakf(bad)
			probs := imagecheck.CheckIndex(index(t, good(t, "amd64"), bad), want)
			if got := rules(probs); !slices.Equal(got, tc.want) {
				t.Fatalf("rules %q, want %q; problems:%s", got, tc.want, dump(probs))
			}
			if tc.detail != "" && !strings.Contains(dump(probs), tc.detail) {
				t.Errorf("no problem mentions %q:%s", tc.detail, dump(probs))
			}
		})
	}
}

func TestEveryBrokenPromiseIsReported(t *testing.T) {
	bad := good(t, "amd64")
	bad.user = "root"
	bad.ports = nil
	bad.labels = nil
	bad.files = append(bad.files, file{name: "bin/bash", mode: 0o755, body: []byte("x")})
	bad.setBinary(craftELF(t, elf.EM_AARCH64, "/lib64/ld-linux-x86-64.so.2", "libc.so.6"))
	probs := imagecheck.CheckIndex(index(t, bad), want)
	want := []string{
		"index platforms",
		"linux/amd64 arch", "linux/amd64 label", "linux/amd64 label", "linux/amd64 label",
		"linux/amd64 port", "linux/amd64 shell", "linux/amd64 static", "linux/amd64 static", "linux/amd64 user",
	}
	if got := rules(probs); !slices.Equal(got, want) {
		t.Fatalf("rules %q\nwant  %q; problems:%s", got, want, dump(probs))
	}
}

func TestIndexPlatformsMustBeExactlyAmd64AndArm64(t *testing.T) {
	for _, tc := range []struct {
		name  string
		archs []string
		want  []string
	}{
		{"missing arm64", []string{"amd64"}, []string{"missing platform linux/arm64"}},
		{"duplicate amd64", []string{"amd64", "amd64", "arm64"}, []string{"platform linux/amd64 appears more than once"}},
		{"extra platform", []string{"amd64", "arm64", "s390x"}, []string{"unexpected platform linux/s390x"}},
		{"empty index", nil, []string{"missing platform linux/amd64", "missing platform linux/arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var specs []*spec
			for _, a := range tc.archs {
				specs = append(specs, good(t, a))
			}
			var got []string
			probs := imagecheck.CheckIndex(index(t, specs...), want)
			for _, p := range probs {
				if p.Where == "index" {
					got = append(got, p.Detail)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("index problems %q, want %q (all:%s)", got, tc.want, dump(probs))
			}
		})
	}
}

func TestArm64WithoutVariantIsAccepted(t *testing.T) {
	idx := index(t, good(t, "amd64"), good(t, "arm64"))
	// index gives arm64 the v8 variant, as rules_oci does; drop it.
	var plain v1.ImageIndex = empty.Index
	im, _ := idx.IndexManifest()
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		p := *d.Platform
		p.Variant = ""
		plain = appendImage(plain, img, &p)
	}
	if probs := imagecheck.CheckIndex(plain, want); len(probs) != 0 {
		t.Fatalf("problems:%s", dump(probs))
	}
}

func TestDescriptorWithoutPlatformIsReported(t *testing.T) {
	idx := appendImage(empty.Index, good(t, "amd64").image(t), nil)
	probs := imagecheck.CheckIndex(idx, imagecheck.Expectations{Name: "api", Port: "8080/tcp", Platforms: []string{"linux/amd64"}})
	if got := rules(probs); len(got) != 2 || !strings.Contains(dump(probs), "has no platform") {
		t.Fatalf("problems:%s", dump(probs))
	}
}

func TestOpenLayoutUnwrapsRulesOCIIndex(t *testing.T) {
	idx := index(t, good(t, "amd64"), good(t, "arm64"))
	nested := t.TempDir()
	p, err := layout.Write(nested, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	flat := t.TempDir()
	if _, err := layout.Write(flat, idx); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{nested, flat} {
		got, err := imagecheck.OpenLayout(dir)
		if err != nil {
			t.Fatal(err)
		}
		if probs := imagecheck.CheckIndex(got, want); len(probs) != 0 {
			t.Errorf("%s problems:%s", dir, dump(probs))
		}
	}
	if _, err := imagecheck.OpenLayout(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("OpenLayout of a missing directory succeeded")
	}
}

// TestRealGoBinariesPass checks real pure-Go binaries, built the way the
// image rules build them, to make sure the crafted ELF files are not
// flattering the checker. Under Bazel the BUILD file hands the test
// cross-compiled binaries (HELLO_LINUX_AMD64/ARM64, rlocation paths); under
// plain go test it builds them itself.
func TestRealGoBinariesPass(t *testing.T) {
	var specs []*spec
	for _, arch := range []string{"amd64", "arm64"} {
		s := good(t, arch)
		s.setBinary(helloBinary(t, arch))
		specs = append(specs, s)
	}
	if probs := imagecheck.CheckIndex(index(t, specs...), want); len(probs) != 0 {
		t.Fatalf("problems:%s", dump(probs))
	}
}

func helloBinary(t *testing.T, arch string) []byte {
	t.Helper()
	if rloc := os.Getenv("HELLO_LINUX_" + strings.ToUpper(arch)); rloc != "" {
		path, err := runfiles.Rlocation(rloc)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
	if runfiles.UnderBazel() {
		t.Fatalf("HELLO_LINUX_%s is not set: the go_test in tools/imagecheck/BUILD.bazel must pass the cross-built binaries", strings.ToUpper(arch))
	}
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", arch, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
