package check

import (
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
)

// TestRunInABazelSandbox runs the whole check as //e2e/check:check_test runs
// under a sandboxed `bazel test`: HOME unset, working directory
// <runfiles>/_main, TEST_TMPDIR the writable place.
func TestRunInABazelSandbox(t *testing.T) {
	bazelsandbox.Enter(t, nil)
	f, cfg := newFakePipeline(t)
	res, out, err := runCheck(t, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "E2E TEST PASSED") || res.Key == "" {
		t.Fatalf("check did not pass:\n%s", out)
	}
	if f.exists(res.Key) {
		t.Error("test object not deleted")
	}
}
