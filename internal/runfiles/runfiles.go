// Package runfiles finds the files Bazel hands a test or a `bazel run`
// binary (its runfiles) from the rlocation paths a BUILD file passes in
// environment variables or flags, without depending on rules_go's runfiles
// library, so the same code also builds with plain `go build`.
package runfiles

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// UnderBazel reports whether this process runs as a Bazel test or under
// `bazel run`, where the go tool and the module source are not available.
func UnderBazel() bool {
	return os.Getenv("TEST_SRCDIR") != "" || os.Getenv("RUNFILES_DIR") != "" || os.Getenv("BUILD_WORKSPACE_DIRECTORY") != ""
}

// Rlocation resolves path the way Bazel's runfiles libraries do: an existing
// absolute or working-directory-relative path as is; else under
// RUNFILES_DIR, TEST_SRCDIR or <argv0>.runfiles; else through a runfiles
// manifest. It finds files and directories (an OCI layout is a directory).
func Rlocation(path string) (string, error) {
	if filepath.IsAbs(path) {
		if exists(path) {
			return path, nil
		}
		return "", fmt.Errorf("%s: no such file or directory", path)
	}
	if exists(path) {
		return filepath.Abs(path)
	}
	exe := os.Args[0]
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	for _, dir := range []string{os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR"), exe + ".runfiles"} {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, filepath.FromSlash(path)); exists(p) {
			return p, nil
		}
	}
	for _, manifest := range []string{os.Getenv("RUNFILES_MANIFEST_FILE"), exe + ".runfiles_manifest"} {
		if manifest == "" {
			continue
		}
		if p, ok := lookupManifest(manifest, path); ok && exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found as a path nor in the Bazel runfiles", path)
}

func lookupManifest(manifest, key string) (string, bool) {
	f, err := os.Open(manifest)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return v, true
		}
	}
	return "", false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
