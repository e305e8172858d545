package check_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/tools/bazelcheck/internal/check"
)

// workspace writes files (path -> content) under a fresh root and loads it.
func workspace(t *testing.T, files map[string]string) *check.Workspace {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := check.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func findings(ws *check.Workspace) string {
	var b strings.Builder
	for _, f := range check.All(ws) {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

const goLoad = `load("@rules_go//go:def.bzl", "go_library", "go_test")
`

// The drift of issue 7: internal/kumotest kept the visibility of its old
// location while tests elsewhere depend on it. Bazel stops at analysis with
// exactly this message.
func TestReportsDefect1InBazelsWords(t *testing.T) {
	ws := workspace(t, map[string]string{
		"internal/kumotest/BUILD.bazel": goLoad + `
go_library(
    name = "kumotest",
    srcs = ["kumotest.go"],
    importpath = "github.com/devops-exam/msgpipe/internal/kumotest",
    visibility = [
        "//images:__pkg__",
        "//services/consumer:__subpackages__",
    ],
)
`,
		"internal/kumotest/kumotest.go": "package kumotest\n",
		"images/BUILD.bazel":            "",
		"libs/awsconfig/BUILD.bazel": goLoad + `
go_test(
    name = "awsconfig_test",
    srcs = ["awsconfig_test.go"],
    deps = ["//internal/kumotest"],
)
`,
		"libs/awsconfig/awsconfig_test.go": "package awsconfig\n",
		"services/consumer/store/BUILD.bazel": goLoad + `
go_test(
    name = "store_test",
    srcs = ["store_test.go"],
    deps = ["//internal/kumotest"],
)
`,
		"services/consumer/store/store_test.go": "package store\n",
	})
	got := findings(ws)
	want := "libs/awsconfig/BUILD.bazel:3:1: in go_test rule //libs/awsconfig:awsconfig_test: target '//internal/kumotest:kumotest' is not visible from target '//libs/awsconfig:awsconfig_test'. Check the visibility declaration of the former target if you think the dependency is legitimate\n"
	if got != want {
		t.Fatalf("findings:\n%s\nwant exactly:\n%s", got, want)
	}
}

func TestVisibilityForms(t *testing.T) {
	lib := func(vis string) string {
		return goLoad + "go_library(name = \"lib\", srcs = [\"lib.go\"], importpath = \"x/lib\"" + vis + ")\n"
	}
	user := goLoad + "go_test(name = \"t\", srcs = [\"t_test.go\"], deps = [\"//a/lib\"])\n"
	for name, c := range map[string]struct {
		lib, pkgOf string
		extra      map[string]string
		visible    bool
	}{
		"private by default":                    {lib(""), "b", nil, false},
		"public":                                {lib(`, visibility = ["//visibility:public"]`), "b", nil, true},
		"explicit private":                      {lib(`, visibility = ["//visibility:private"]`), "b", nil, false},
		"__pkg__ of that package":               {lib(`, visibility = ["//b:__pkg__"]`), "b", nil, true},
		"__pkg__ is not its subpackages":        {lib(`, visibility = ["//b:__pkg__"]`), "b/c", nil, false},
		"__subpackages__":                       {lib(`, visibility = ["//b:__subpackages__"]`), "b/c", nil, true},
		"root __subpackages__ is every package": {lib(`, visibility = ["//:__subpackages__"]`), "b/c", nil, true},
		"package default_visibility":            {"package(default_visibility = [\"//b:__pkg__\"])\n" + lib(""), "b", nil, true},
		"attribute beats package default":       {"package(default_visibility = [\"//visibility:public\"])\n" + lib(`, visibility = ["//z:__pkg__"]`), "b", nil, false},
		"package_group": {lib(`, visibility = ["//g:friends"]`), "b/c", map[string]string{
			"g/BUILD.bazel": `package_group(name = "friends", packages = ["//b/..."])` + "\n",
		}, true},
		"package_group exclusion": {lib(`, visibility = ["//g:friends"]`), "b/c", map[string]string{
			"g/BUILD.bazel": `package_group(name = "friends", packages = ["//b/...", "-//b/c"])` + "\n",
		}, false},
		"package_group includes": {lib(`, visibility = ["//g:friends"]`), "b", map[string]string{
			"g/BUILD.bazel": `package_group(name = "friends", includes = [":more"])
package_group(name = "more", packages = ["//b"])
`,
		}, true},
	} {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{
				"a/lib/BUILD.bazel":      c.lib,
				"a/lib/lib.go":           "package lib\n",
				c.pkgOf + "/BUILD.bazel": user,
				c.pkgOf + "/t_test.go":   "package t\n",
			}
			for k, v := range c.extra {
				files[k] = v
			}
			got := findings(workspace(t, files))
			if c.visible && got != "" {
				t.Errorf("want visible, got:\n%s", got)
			}
			if !c.visible && !strings.Contains(got, "target '//a/lib:lib' is not visible from target '//"+c.pkgOf+":t'") {
				t.Errorf("want not visible, got:\n%s", got)
			}
		})
	}
}

func TestLabelsThatNameNothing(t *testing.T) {
	ws := workspace(t, map[string]string{
		"a/BUILD.bazel": goLoad + `
go_test(
    name = "t",
    srcs = ["t_test.go", "gone.go", "sub/x.go"],
    data = ["//nowhere:bin", "//b:missing"],
    embed = [":lib"],
)
`,
		"a/t_test.go":       "package a\n",
		"a/sub/BUILD.bazel": "",
		"a/sub/x.go":        "package sub\n",
		"b/BUILD.bazel":     "",
	})
	got := findings(ws)
	for _, want := range []string{
		"no such target '//a:gone.go': target 'gone.go' not declared in package 'a' defined by ",
		"Label '//a:sub/x.go' is invalid because 'a/sub' is a subpackage; perhaps you meant to put the colon here: '//a/sub:x.go'?",
		"no such package 'nowhere': BUILD file not found in any of the following directories.",
		"no such target '//b:missing': target 'missing' not declared in package 'b'",
		"no such target '//a:lib'",
		"and referenced by '//a:t'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "t_test.go") {
		t.Errorf("an existing source file was reported:\n%s", got)
	}
}

func TestLocationExpansionsMustBeDeclared(t *testing.T) {
	ws := workspace(t, map[string]string{
		"svc/BUILD.bazel": goLoad + `
go_library(name = "svc", srcs = ["s.go"], importpath = "x/svc", visibility = ["//visibility:public"])
`,
		"svc/s.go": "package svc\n",
		"it/BUILD.bazel": goLoad + `
go_test(
    name = "it_test",
    srcs = ["it_test.go"],
    data = ["//svc"],
    env = {
        "OK": "$(rlocationpath //svc)",
        "BAD": "$(rlocationpath //svc:other)",
    },
    args = ["--x=$(rootpath :it_test.go)", "--y=$(location //svc:svc)"],
)
`,
		"it/it_test.go": "package it\n",
	})
	got := findings(ws)
	want := "in env attribute of go_test rule //it:it_test: label '//svc:other' in $(rlocationpath) expression is not declared in the prerequisites of this rule"
	if !strings.Contains(got, want) || strings.Count(got, "not declared in the prerequisites") != 1 {
		t.Errorf("findings:\n%s\nwant exactly one: %s", got, want)
	}
}

// Labels a workspace macro builds (service_image in images/) count: its
// targets exist in the calling package, relative labels resolve there, and a
// label it builds from its arguments is checked like any other.
func TestMacroBodiesAreExpanded(t *testing.T) {
	files := map[string]string{
		"images/image.bzl": `load("@rules_go//go:def.bzl", "go_binary")
load("@rules_oci//oci:defs.bzl", "oci_image", "oci_image_index")

def service_image(name, embed, platforms, index_visibility = None):
    go_binary(name = name + "_bin", embed = [embed])
    oci_image(name = name + "_image", base = "@distroless_static", tars = [":" + name + "_bin"])
    oci_image_index(name = name + "_index", images = [":" + name + "_image"], platforms = platforms, visibility = index_visibility)
`,
		"images/BUILD.bazel": `load(":image.bzl", "service_image")

platform(name = "linux_amd64", constraint_values = ["@platforms//os:linux"])

[
    service_image(
        name = name,
        embed = "//services/%s:%s_lib" % (name, name),
        index_visibility = ["//images/test:__pkg__"],
        platforms = [":linux_amd64"],
    )
    for name in ["api", "consumer"]
]
`,
		"images/test/BUILD.bazel": `filegroup(name = "all", srcs = ["//images:api_index", "//images:consumer_index", "//images:api_image"])
`,
		"services/api/BUILD.bazel": goLoad + `go_library(name = "api_lib", srcs = ["m.go"], importpath = "x/api", visibility = ["//images:__pkg__"])
`,
		"services/api/m.go": "package main\n",
	}
	got := findings(workspace(t, files))
	for _, want := range []string{
		// The macro builds //services/consumer:consumer_lib, which does not exist.
		"no such package 'services/consumer'",
		// _image has no visibility: private to //images.
		"target '//images:api_image' is not visible from target '//images/test:all'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	for _, wrong := range []string{"//images:api_index'", "//images:consumer_index'", "api_bin", "linux_amd64", "//services/api:api_lib"} {
		if strings.Contains(got, wrong) {
			t.Errorf("%s was reported:\n%s", wrong, got)
		}
	}
}

func TestSelectKeys(t *testing.T) {
	got := findings(workspace(t, map[string]string{
		"a/BUILD.bazel": `config_setting(name = "arm", constraint_values = ["@platforms//cpu:arm64"])

platform(name = "p", constraint_values = ["@platforms//os:linux"])

filegroup(
    name = "fg",
    srcs = select({
        ":arm": ["x"],
        ":p": ["x"],
        "//nowhere:c": ["x"],
        "@platforms//cpu:x86_64": ["x"],
        "//conditions:default": ["x"],
    }),
)
`,
		"a/x": "",
	}))
	for _, want := range []string{
		"select() key of attribute 'srcs': //a:p is not a valid select() condition for //a:fg",
		"select() key of attribute 'srcs': no such package 'nowhere'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "select() key") != 2 {
		t.Errorf("want exactly two select() findings:\n%s", got)
	}
}
