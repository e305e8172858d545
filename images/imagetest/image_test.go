//go:build imagetest

// Package imagetest_test checks the built service images under Bazel: the
// BUILD file sets IMAGE_INDEXES to "name=RLOCATIONPATH ..." for the
// oci_image_index layouts in runfiles and builds this with gotags
// "imagetest", so a plain `go test ./...` never sees it.
package imagetest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/internal/runfiles"
	"github.com/devops-exam/msgpipe/tools/imagecheck"
)

// port is the one port every service listens on inside its container.
const port = "8080/tcp"

func TestServiceImagesKeepTheirPromises(t *testing.T) {
	spec := strings.Fields(os.Getenv("IMAGE_INDEXES"))
	if len(spec) == 0 {
		// A misconfigured target must not pass by checking nothing.
		t.Fatal("IMAGE_INDEXES is empty: set it to space-separated name=RLOCATIONPATH pairs in the test's env")
	}
	for _, pair := range spec {
		name, rloc, ok := strings.Cut(pair, "=")
		if !ok || name == "" || rloc == "" {
			t.Errorf("IMAGE_INDEXES entry %q: want name=RLOCATIONPATH", pair)
			continue
		}
		t.Run(name, func(t *testing.T) {
			dir, err := runfiles.Rlocation(rloc)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := imagecheck.OpenLayout(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range imagecheck.CheckIndex(idx, imagecheck.Expectations{Name: name, Port: port}) {
				t.Error(p.String())
			}
		})
	}
}
