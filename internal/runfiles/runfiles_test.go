package runfiles

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRlocationFindsFilesAndDirectories(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"_main/images/api_index/blobs", "_main/bin/dir"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "_main/bin/tool"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SRCDIR", "")
	t.Setenv("RUNFILES_MANIFEST_FILE", "")
	t.Setenv("RUNFILES_DIR", root)
	for _, p := range []string{"_main/images/api_index", "_main/bin/tool"} {
		got, err := Rlocation(p)
		if err != nil || got != filepath.Join(root, p) {
			t.Errorf("Rlocation(%q) = %q, %v", p, got, err)
		}
	}
	if !UnderBazel() {
		t.Error("UnderBazel false with RUNFILES_DIR set")
	}

	t.Setenv("RUNFILES_DIR", "")
	t.Setenv("TEST_SRCDIR", root)
	if got, err := Rlocation("_main/bin/tool"); err != nil || got != filepath.Join(root, "_main/bin/tool") {
		t.Errorf("via TEST_SRCDIR: %q, %v", got, err)
	}

	t.Setenv("TEST_SRCDIR", "")
	manifest := filepath.Join(t.TempDir(), "MANIFEST")
	if err := os.WriteFile(manifest, []byte("_main/other x\n_main/tool "+filepath.Join(root, "_main/bin/tool")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNFILES_MANIFEST_FILE", manifest)
	if got, err := Rlocation("_main/tool"); err != nil || got != filepath.Join(root, "_main/bin/tool") {
		t.Errorf("via manifest: %q, %v", got, err)
	}
	if _, err := Rlocation("_main/absent"); err == nil {
		t.Error("found an absent path")
	}
}

func TestRlocationTakesExistingPathsAsTheyAre(t *testing.T) {
	dir := t.TempDir()
	if got, err := Rlocation(dir); err != nil || got != dir {
		t.Errorf("absolute: %q, %v", got, err)
	}
	if _, err := Rlocation(filepath.Join(dir, "nope")); err == nil {
		t.Error("absent absolute path found")
	}
	t.Chdir(dir)
	if err := os.WriteFile("here", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Rlocation("here"); err != nil || got != filepath.Join(dir, "here") {
		t.Errorf("relative: %q, %v", got, err)
	}
}

func TestUnderBazelIsFalseForPlainGoTest(t *testing.T) {
	for _, k := range []string{"TEST_SRCDIR", "RUNFILES_DIR", "BUILD_WORKSPACE_DIRECTORY"} {
		t.Setenv(k, "")
	}
	if UnderBazel() {
		t.Fatal("UnderBazel true without Bazel's variables")
	}
}
