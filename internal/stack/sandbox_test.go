package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
)

// TestFindBinariesInABazelSandbox resolves the BUILD files' rlocation paths
// (tests/integration, tools/devstack) in a tree laid out as a sandboxed
// `bazel test` lays it out: binaries are symlinks, HOME is unset and the
// working directory is <runfiles>/_main, and FindOrBuild must neither build
// nor need the go tool.
func TestFindBinariesInABazelSandbox(t *testing.T) {
	real := t.TempDir()
	for _, n := range []string{"api", "consumer"} {
		if err := os.WriteFile(filepath.Join(real, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := bazelsandbox.Enter(t, map[string]string{
		"_main/services/api/api_/api":                filepath.Join(real, "api"),
		"_main/services/consumer/consumer_/consumer": filepath.Join(real, "consumer"),
	})
	t.Setenv(EnvAPIBin, "_main/services/api/api_/api")
	t.Setenv(EnvConsumerBin, "_main/services/consumer/consumer_/consumer")
	t.Setenv("PATH", "") // no go tool in the sandbox's PATH

	b, err := FindOrBuild(t.Context(), os.Getenv("TEST_TMPDIR"))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"api": b.API, "consumer": b.Consumer} {
		if !strings.HasPrefix(p, s.Runfiles) {
			t.Errorf("%s binary %s is not in the runfiles tree %s", name, p, s.Runfiles)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s binary %s: %v %v", name, p, fi, err)
		}
	}

	t.Setenv(EnvConsumerBin, "_main/services/consumer/missing")
	if _, err := FindOrBuild(t.Context(), os.Getenv("TEST_TMPDIR")); err == nil || !strings.Contains(err.Error(), EnvConsumerBin) {
		t.Errorf("FindOrBuild with a missing binary = %v", err)
	}
}

// FindOrBuildTemp takes binaries the environment names as they are, and its
// cleanup leaves them alone; a failure leaves no temporary directory to
// clean up.
func TestFindOrBuildTempUsesNamedBinaries(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"api", "consumer"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvAPIBin, filepath.Join(dir, "api"))
	t.Setenv(EnvConsumerBin, filepath.Join(dir, "consumer"))
	b, cleanup, err := FindOrBuildTemp(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if b.API != filepath.Join(dir, "api") || b.Consumer != filepath.Join(dir, "consumer") {
		t.Errorf("binaries %+v, want the named ones", b)
	}
	if _, err := os.Stat(b.API); err != nil {
		t.Errorf("cleanup removed a named binary: %v", err)
	}
	t.Setenv(EnvConsumerBin, "")
	if _, cleanup, err := FindOrBuildTemp(t.Context()); err == nil || cleanup != nil {
		t.Errorf("only one binary named: err %v, cleanup %v; want an error and nothing to clean", err, cleanup != nil)
	}
}
