package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunExitsOneAndPrintsEachFinding(t *testing.T) {
	root := t.TempDir()
	write := func(p, body string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/BUILD.bazel", `filegroup(name = "a", srcs = ["//b:hidden"])`+"\n")
	write("b/BUILD.bazel", `filegroup(name = "hidden")`+"\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{root}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "ERROR: a/BUILD.bazel:1:1: in filegroup rule //a:a: target '//b:hidden' is not visible from target '//a:a'") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}

	write("b/BUILD.bazel", `filegroup(name = "hidden", visibility = ["//a:__pkg__"])`+"\n")
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{root}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "bazelcheck: OK (2 packages, 2 targets") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"a", "b"}, &stdout, &stderr); code != 2 {
		t.Errorf("two arguments: exit %d", code)
	}
}
