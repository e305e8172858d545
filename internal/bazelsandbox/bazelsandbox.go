// Package bazelsandbox reproduces, inside a plain `go test`, the file system
// and environment a sandboxed `bazel test` gives a test binary, so that code
// reading runfiles is tested the way Bazel will run it:
//
//   - the runfiles tree is real directories in which every file is its own
//     symlink to the real file (Bazel expands a directory output, such as an
//     OCI layout, file by file; `bazel run` links the directory once instead);
//   - TEST_SRCDIR and RUNFILES_DIR name that tree, TEST_TMPDIR a fresh
//     writable directory, and HOME is unset;
//   - the working directory is <runfiles>/_main.
package bazelsandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Workspace is the runfiles directory of the main repository under bzlmod.
const Workspace = "_main"

// Sandbox is a runfiles tree entered by Enter.
type Sandbox struct {
	// Runfiles is the tree's root: TEST_SRCDIR and RUNFILES_DIR.
	Runfiles string
	// Main is Runfiles/_main, the working directory.
	Main string
	// TmpDir is TEST_TMPDIR.
	TmpDir string
}

// Enter lays out files as a sandboxed Bazel test sees its runfiles and makes
// the test run inside it until it ends. files maps rlocation paths (such as
// "_main/images/api_index") to real files or directories. Environment and
// working directory are restored by t's cleanup, so a test that uses it must
// not be parallel.
func Enter(t testing.TB, files map[string]string) *Sandbox {
	t.Helper()
	s, err := Build(t.TempDir(), files)
	if err != nil {
		t.Fatal(err)
	}
	s.TmpDir = t.TempDir()
	for _, k := range []string{"RUNFILES_MANIFEST_FILE", "RUNFILES_MANIFEST_ONLY", "BUILD_WORKSPACE_DIRECTORY", "BUILD_WORKING_DIRECTORY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("TEST_SRCDIR", s.Runfiles)
	t.Setenv("RUNFILES_DIR", s.Runfiles)
	t.Setenv("TEST_TMPDIR", s.TmpDir)
	t.Setenv("TEST_WORKSPACE", Workspace)
	t.Setenv("HOME", "")
	os.Unsetenv("HOME")
	t.Chdir(s.Main)
	return s
}

// Build creates the runfiles tree under root without touching the process:
// root/runfiles/<rlocation path> for every entry of files. A file becomes one
// symlink; a directory becomes a real directory holding one symlink per file
// below it.
func Build(root string, files map[string]string) (*Sandbox, error) {
	rf := filepath.Join(root, "runfiles")
	s := &Sandbox{Runfiles: rf, Main: filepath.Join(rf, Workspace)}
	if err := os.MkdirAll(s.Main, 0o755); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, rloc := range keys {
		if rloc == "" || filepath.IsAbs(rloc) || strings.HasPrefix(filepath.Clean(rloc), "..") {
			return nil, fmt.Errorf("bazelsandbox: %q is not an rlocation path", rloc)
		}
		if err := place(files[rloc], filepath.Join(rf, filepath.FromSlash(rloc))); err != nil {
			return nil, fmt.Errorf("bazelsandbox: %s: %w", rloc, err)
		}
	}
	return s, nil
}

func place(src, dst string) error {
	src, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return link(src, dst)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return link(p, target)
	})
}

func link(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.Symlink(src, dst)
}
