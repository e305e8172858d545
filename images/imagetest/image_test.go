//go:build imagetest

// Package imagetest_test checks the built service images under Bazel: the
// BUILD file sets IMAGE_INDEXES to "name=RLOCATIONPATH ..." for the
// oci_image_index layouts in runfiles and builds this with gotags
// "imagetest", so a plain `go test ./...` never sees it. The same check runs
// in plain go test against a sandbox-shaped runfiles tree
// (tools/imagecheck's TestCheckLayoutsInABazelSandbox).
package imagetest_test

import (
	"os"
	"testing"

	"github.com/devops-exam/msgpipe/tools/imagecheck"
)

// port is the one port every service listens on inside its container.
const port = "8080/tcp"

func TestServiceImagesKeepTheirPromises(t *testing.T) {
	for _, p := range imagecheck.CheckLayouts(os.Getenv("IMAGE_INDEXES"), port) {
		t.Error(p)
	}
}
