package check_test

import (
	"strings"
	"testing"
)

func TestAttributeTypesAndMandatoryAttributes(t *testing.T) {
	got := findings(workspace(t, map[string]string{
		"a/BUILD.bazel": `load("@rules_go//go:def.bzl", "go_binary", "go_test")
load("@rules_pkg//pkg:tar.bzl", "pkg_tar")
load("@rules_oci//oci:defs.bzl", "oci_image", "oci_image_index", "oci_load")

go_binary(name = "bin", pure = True, embed = ":lib", x_defs = {"main.v": 1})
pkg_tar(name = "layer", mode = 0o755, srcs = [":bin"])
oci_image(name = "img", entrypoint = ["/app/bin"], exposed_ports = "8080/tcp", labels = {"a": "b"}, tars = [":layer"])
oci_image_index(name = "idx", platforms = [])
oci_load(name = "load", image = ":img")
go_test(name = "t", srcs = ["t_test.go"], flavour = "x", gotags = select({"//conditions:default": "imagetest"}))
go_test(name = "u", srcs = ["t_test.go"], tags = select({"//conditions:default": []}))
`,
		"a/t_test.go": "package a\n",
	}))
	for _, want := range []string{
		`//a:bin: expected value of type 'string' for attribute 'pure' in 'go_binary' rule, but got True (bool)`,
		`//a:bin: expected value of type 'list(label)' for attribute 'embed' in 'go_binary' rule, but got ":lib" (string)`,
		`//a:bin: expected value of type 'dict(string, string)' for attribute 'x_defs' in 'go_binary' rule`,
		`//a:layer: expected value of type 'string' for attribute 'mode' in 'pkg_tar' rule, but got 493 (int)`,
		`//a:idx: missing value for mandatory attribute 'images' in 'oci_image_index' rule`,
		`//a:load: missing value for mandatory attribute 'repo_tags' in 'oci_load' rule`,
		`//a:t: no such attribute 'flavour' in 'go_test' rule`,
		`//a:t: expected value of type 'list(string)' for attribute 'gotags' in 'go_test' rule, but got "imagetest" (string)`,
		`//a:u: attribute 'tags' in 'go_test' rule is not configurable: it cannot be a select()`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	// The macro forms rules_oci accepts are not errors.
	if strings.Contains(got, "//a:img") {
		t.Errorf("oci_image's list/label forms were reported:\n%s", got)
	}
}

func TestRulesWithoutARecordedSchemaAreReported(t *testing.T) {
	got := findings(workspace(t, map[string]string{
		"a/BUILD.bazel": `load("@rules_shell//shell:sh_test.bzl", "sh_test")

sh_test(name = "t", srcs = ["t.sh"])
`,
		"a/t.sh": "",
	}))
	if !strings.Contains(got, "rule 'sh_test' has no recorded schema") {
		t.Errorf("findings:\n%s", got)
	}
}

func TestTestSizeFollowsWhatTheTestStarts(t *testing.T) {
	files := map[string]string{
		"internal/stack/BUILD.bazel": goLoad + `go_library(name = "stack", srcs = ["s.go"], importpath = "x/stack", visibility = ["//visibility:public"])
`,
		"internal/stack/s.go": "package stack\n",
		"internal/kumotest/BUILD.bazel": goLoad + `go_library(name = "kumotest", srcs = ["k.go"], importpath = "x/k", deps = ["//internal/stack"], visibility = ["//visibility:public"])
`,
		"internal/kumotest/k.go": "package kumotest\n",
		"a/BUILD.bazel": goLoad + `
go_test(name = "small_emulator", srcs = ["t_test.go"], deps = ["//internal/kumotest"])
go_test(name = "medium_emulator", size = "medium", srcs = ["t_test.go"], deps = ["//internal/kumotest"])
go_test(name = "long_timeout", timeout = "moderate", srcs = ["t_test.go"], deps = ["//internal/stack"])
go_test(name = "pure", srcs = ["t_test.go"])
go_test(name = "bad_size", size = "huge", timeout = "forever", srcs = ["t_test.go"])
`,
		"a/t_test.go": "package a\n",
	}
	got := findings(workspace(t, files))
	want := `//a:small_emulator: starts the AWS emulator or service processes (through //internal/stack:stack) but is size "small" (60 s): set size = "medium"`
	if !strings.Contains(got, want) {
		t.Errorf("findings lack %q:\n%s", want, got)
	}
	for _, ok := range []string{"medium_emulator", "long_timeout", "//a:pure"} {
		if strings.Contains(got, ok) {
			t.Errorf("%s was reported:\n%s", ok, got)
		}
	}
	if !strings.Contains(got, `invalid size '"huge"'`) || !strings.Contains(got, `invalid timeout '"forever"'`) {
		t.Errorf("invalid size/timeout not reported:\n%s", got)
	}
}

func TestTagsAndEnv(t *testing.T) {
	got := findings(workspace(t, map[string]string{
		"a/BUILD.bazel": goLoad + `
go_test(name = "nosandbox", srcs = ["t_test.go"], tags = ["no-sandbox"])
go_test(name = "typo", srcs = ["t_test.go"], tags = ["manul"])
go_test(name = "net", srcs = ["t_test.go"], tags = ["requires-network"])
go_test(name = "ok", srcs = ["t_test.go"], tags = ["manual", "requires-network", "external"], env = {"GOOD_NAME": "1"}, env_inherit = ["TERM"])
go_test(name = "env", srcs = ["t_test.go"], env = {"BAD-NAME": "1"}, env_inherit = ["AWS_SECRET_ACCESS_KEY", "1X"])
go_library(name = "lib", srcs = ["l.go"], importpath = "x/a", env = {"A": "b"})
`,
		"a/t_test.go": "package a\n",
		"a/l.go":      "package a\n",
	}))
	for _, want := range []string{
		"//a:nosandbox: tag 'no-sandbox' is not allowed: a test must pass in the sandbox's runfiles layout",
		"//a:typo: tag 'manul' is not one this project uses",
		"//a:net: tagged requires-network/external but not manual",
		"//a:env: env: invalid environment variable name 'BAD-NAME'",
		"//a:env: env_inherit: 'AWS_SECRET_ACCESS_KEY' would let a hermetic test use the caller's credentials",
		"//a:env: env_inherit: invalid environment variable name '1X'",
		"//a:lib: no such attribute 'env' in 'go_library' rule",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "//a:ok") {
		t.Errorf("a well-formed test was reported:\n%s", got)
	}
}
