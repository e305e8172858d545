package imagecheck_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/devops-exam/msgpipe/internal/bazelsandbox"
	"github.com/devops-exam/msgpipe/tools/imagecheck"
)

// writeNested writes idx the way rules_oci's oci_image_index does: index.json
// holds one entry, the index itself.
func writeNested(t *testing.T, name string) string {
	t.Helper()
	s, a := good(t, "amd64"), good(t, "arm64")
	s.labels[imagecheck.LabelTitle] = name
	a.labels[imagecheck.LabelTitle] = name
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(index(t, s, a)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckLayoutsInABazelSandbox runs //images/imagetest's check the way a
// sandboxed `bazel test` runs it: the layouts are directory outputs, so every
// blob is its own symlink, and IMAGE_INDEXES holds the BUILD file's
// rlocation paths.
func TestCheckLayoutsInABazelSandbox(t *testing.T) {
	bazelsandbox.Enter(t, map[string]string{
		"_main/images/api_index":      writeNested(t, "api"),
		"_main/images/consumer_index": writeNested(t, "consumer"),
	})
	spec := "api=_main/images/api_index consumer=_main/images/consumer_index"
	if probs := imagecheck.CheckLayouts(spec, "8080/tcp"); len(probs) != 0 {
		t.Fatalf("problems in the sandbox layout:\n  %s", strings.Join(probs, "\n  "))
	}
}

func TestCheckLayoutsReportsWhatItCannotCheck(t *testing.T) {
	bazelsandbox.Enter(t, map[string]string{"_main/images/api_index": writeNested(t, "api")})
	for spec, want := range map[string]string{
		"":                                 "IMAGE_INDEXES is empty",
		"api":                              `entry "api": want name=RLOCATIONPATH`,
		"api=_main/images/missing":         "api: _main/images/missing: not found",
		"consumer=_main/images/api_index":  `consumer: linux/amd64: label: org.opencontainers.image.title is "api", want "consumer"`,
		"api=_main/images/api_index bogus": `entry "bogus"`,
	} {
		probs := strings.Join(imagecheck.CheckLayouts(spec, "8080/tcp"), "\n")
		if !strings.Contains(probs, want) {
			t.Errorf("CheckLayouts(%q) = %q, want it to contain %q", spec, probs, want)
		}
	}
}
