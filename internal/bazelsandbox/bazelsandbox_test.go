package bazelsandbox_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
)

func TestEnterLaysOutEveryFileOfADirectoryAsItsOwnSymlink(t *testing.T) {
	src := t.TempDir()
	for _, f := range []string{"index.json", "blobs/sha256/aa", "blobs/sha256/bb"} {
		p := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "api")
	if err := os.WriteFile(bin, []byte("elf"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", "/home/someone")

	s := bazelsandbox.Enter(t, map[string]string{
		"_main/images/api_index":      src,
		"_main/services/api/api_/api": bin,
	})

	for _, rel := range []string{"images/api_index", "images/api_index/blobs", "images/api_index/blobs/sha256"} {
		fi, err := os.Lstat(rel)
		if err != nil || !fi.IsDir() || fi.Mode()&os.ModeSymlink != 0 {
			t.Errorf("%s: want a real directory, got %v %v", rel, fi, err)
		}
	}
	for _, rel := range []string{"images/api_index/index.json", "images/api_index/blobs/sha256/aa", "services/api/api_/api"} {
		fi, err := os.Lstat(rel)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: want a symlink, got %v %v", rel, fi, err)
		}
	}
	if b, err := os.ReadFile("images/api_index/blobs/sha256/bb"); err != nil || string(b) != "blobs/sha256/bb" {
		t.Errorf("read through the symlink: %q %v", b, err)
	}
	wd, _ := os.Getwd()
	if wd != s.Main || filepath.Base(wd) != "_main" {
		t.Errorf("working directory %s, want %s", wd, s.Main)
	}
	for k, want := range map[string]string{"TEST_SRCDIR": s.Runfiles, "RUNFILES_DIR": s.Runfiles, "TEST_TMPDIR": s.TmpDir} {
		if got := os.Getenv(k); got != want || got == "" {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if v, ok := os.LookupEnv("HOME"); ok {
		t.Errorf("HOME is set (%q); a Bazel test has none", v)
	}
}

func TestBuildRefusesPathsOutsideTheTree(t *testing.T) {
	for _, rloc := range []string{"", "/abs", "../up"} {
		if _, err := bazelsandbox.Build(t.TempDir(), map[string]string{rloc: t.TempDir()}); err == nil {
			t.Errorf("Build accepted %q", rloc)
		}
	}
}
