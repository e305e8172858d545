package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Type is an attribute's type as Bazel (or the macro in front of the rule)
// accepts it.
type Type string

// Attribute types.
const (
	TLabel          Type = "label"
	TLabelList      Type = "list(label)"
	TString         Type = "string"
	TStringList     Type = "list(string)"
	TStringDict     Type = "dict(string, string)"
	TLabelKeyedDict Type = "dict(label, string)"
	TBool           Type = "boolean"
	TInt            Type = "int"
	TOutput         Type = "output"
	// Macro parameters that take a label or an inline value.
	TLabelOrStringList Type = "label or list(string)"
	TLabelOrStringDict Type = "label or dict(string, string)"
)

// Schema is one rule's (or rule-wrapping macro's) attributes, recorded from
// the pinned source named in Source.
type Schema struct {
	Source    string
	Test      bool // a *_test rule: gets Bazel's test attributes
	Binary    bool // executable: gets args and env under bazel run
	Attrs     map[string]Type
	Mandatory []string
	// NoSelect are attributes the macro inspects (types.is_list, ...) or
	// Bazel declares non-configurable: a select() there fails at loading.
	NoSelect []string
}

// Bazel's attributes common to every rule, and to tests and executables
// (https://bazel.build/reference/be/common-definitions, Bazel 8; not read
// from Bazel's source: see docs/bazel-verification.md).
var (
	commonAttrs = map[string]Type{
		"name": TString, "visibility": TLabelList, "tags": TStringList, "testonly": TBool,
		"deprecation": TString, "features": TStringList, "compatible_with": TLabelList,
		"restricted_to": TLabelList, "target_compatible_with": TLabelList,
		"exec_compatible_with": TLabelList, "exec_properties": TStringDict, "toolchains": TLabelList,
		"package_metadata": TLabelList, "applicable_licenses": TLabelList, "aspect_hints": TLabelList,
	}
	testAttrs = map[string]Type{
		"args": TStringList, "env": TStringDict, "env_inherit": TStringList, "size": TString,
		"timeout": TString, "flaky": TBool, "shard_count": TInt, "local": TBool,
	}
	binaryAttrs = map[string]Type{"args": TStringList, "env": TStringDict, "output_licenses": TStringList}
	// Bazel: "name", "visibility", "tags", "testonly" and the test
	// attributes below are not configurable.
	nonConfigurable = []string{"name", "visibility", "tags", "testonly", "size", "timeout", "flaky", "shard_count", "local"}
)

func attrs(kv ...any) map[string]Type {
	m := map[string]Type{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(Type)
	}
	return m
}

var goCommon = []any{
	"srcs", TLabelList, "data", TLabelList, "deps", TLabelList, "embed", TLabelList, "embedsrcs", TLabelList,
	"importpath", TString, "gc_goopts", TStringList, "x_defs", TStringDict, "cgo", TBool, "cdeps", TLabelList,
	"cppopts", TStringList, "copts", TStringList, "cxxopts", TStringList, "clinkopts", TStringList,
}

var goLinked = []any{
	"gc_linkopts", TStringList, "pure", TString, "static", TString, "race", TString, "msan", TString,
	"gotags", TStringList, "goos", TString, "goarch", TString, "linkmode", TString,
}

// Schemas are the rules and macros this workspace calls, keyed by the name
// it calls them by.
var Schemas = map[string]Schema{
	"go_library": {
		Source: "rules_go v0.62.0 go/private/rules/library.bzl:81-200 (go_library attrs)",
		Attrs:  attrs(append(slices.Clone(goCommon), "importmap", TString, "importpath_aliases", TStringList)...),
	},
	"go_binary": {
		Source: "rules_go v0.62.0 go/private/rules/binary.bzl:256-500 (_go_binary_kwargs), via go/private/rules/wrappers.bzl:28 go_binary_macro",
		Binary: true,
		Attrs:  attrs(append(append(slices.Clone(goCommon), goLinked...), "basename", TString, "out", TString, "pgoprofile", TLabel)...),
	},
	"go_test": {
		Source: "rules_go v0.62.0 go/private/rules/test.bzl:243-466 (go_test attrs)",
		Test:   true,
		Attrs:  attrs(append(append(slices.Clone(goCommon), goLinked...), "rundir", TString)...),
	},
	"go_cross_binary": {
		Source:    "rules_go v0.62.0 go/private/rules/cross.bzl:95-133 (target mandatory at :100)",
		Attrs:     attrs("target", TLabel, "platform", TLabel, "sdk_version", TString, "compilation_mode", TString),
		Mandatory: []string{"target"},
	},
	"gazelle": {
		Source: "gazelle v0.53.0 def.bzl:87-113 (_gazelle_runner attrs), :225 def gazelle (args become extra_args)",
		Binary: true,
		Attrs:  attrs("gazelle", TLabel, "command", TString, "mode", TString, "external", TString, "build_tags", TStringList, "prefix", TString, "extra_args", TStringList, "data", TLabelList),
	},
	"pkg_tar": {
		Source: "rules_pkg 1.3 pkg/private/tar/tar.bzl:225-330 (pkg_tar_impl attrs; the pkg_tar macro at :340 sets out)",
		Attrs: attrs("strip_prefix", TString, "package_dir", TString, "package_dir_file", TLabel, "deps", TLabelList,
			"srcs", TLabelList, "files", TLabelKeyedDict, "mode", TString, "modes", TStringDict, "mtime", TInt,
			"portable_mtime", TBool, "owner", TString, "ownername", TString, "owners", TStringDict,
			"ownernames", TStringDict, "extension", TString, "symlinks", TStringDict, "empty_files", TStringList,
			"include_runfiles", TBool, "empty_dirs", TStringList, "remap_paths", TStringDict, "compressor", TLabel,
			"compressor_args", TString, "create_parents", TBool, "allow_duplicates_from_deps", TBool,
			"compression_level", TInt, "out", TOutput, "package_file_name", TString, "package_variables", TLabel,
			"allow_duplicates_with_different_content", TBool, "preserve_mode", TBool, "preserve_mtime", TBool, "stamp", TInt),
	},
	"oci_image": {
		Source: "rules_oci v2.3.0 oci/defs.bzl:86-215 (macro: labels/annotations/env dict or label, cmd/entrypoint/exposed_ports/volumes list or label) and oci/private/image.bzl:62-98 (rule attrs)",
		Attrs: attrs("base", TLabel, "created", TLabel, "tars", TLabelList, "entrypoint", TLabelOrStringList,
			"cmd", TLabelOrStringList, "env", TLabelOrStringDict, "user", TString, "workdir", TString,
			"exposed_ports", TLabelOrStringList, "volumes", TLabelOrStringList, "os", TString,
			"architecture", TString, "variant", TString, "labels", TLabelOrStringDict, "annotations", TLabelOrStringDict),
		NoSelect: []string{"labels", "annotations", "env", "cmd", "entrypoint", "exposed_ports", "volumes"},
	},
	"oci_image_index": {
		Source:    "rules_oci v2.3.0 oci/private/image_index.bzl:73-90 (images mandatory at :75), oci/defs.bzl:63 macro",
		Attrs:     attrs("images", TLabelList, "platforms", TLabelList),
		Mandatory: []string{"images"},
	},
	"oci_load": {
		Source:    "rules_oci v2.3.0 oci/private/load.bzl:93-132 (image :99 and repo_tags :100-105 mandatory), oci/defs.bzl oci_load macro (repo_tags list or label)",
		Binary:    true,
		Attrs:     attrs("format", TString, "image", TLabel, "repo_tags", TLabelOrStringList, "loader", TLabel),
		Mandatory: []string{"image", "repo_tags"},
		NoSelect:  []string{"repo_tags"},
	},
	"expand_template": {
		Source:    "bazel-lib v2.21.1 lib/expand_template.bzl:9-30 (macro: template list or label) and lib/private/expand_template.bzl:80-125 (template mandatory at :122)",
		Attrs:     attrs("data", TLabelList, "is_executable", TBool, "out", TOutput, "stamp_substitutions", TStringDict, "substitutions", TStringDict, "template", TLabelOrStringList, "stamp", TInt),
		Mandatory: []string{"template"},
		NoSelect:  []string{"template"},
	},
	"platform_transition_filegroup": {
		Source:    "bazel-lib v2.21.1 lib/transitions.bzl:28-45 (target_platform mandatory at :37)",
		Attrs:     attrs("target_platform", TLabel, "srcs", TLabelList),
		Mandatory: []string{"target_platform"},
	},
	// Native rules (Bazel 8 build encyclopedia; not read from source).
	"platform":         {Source: "Bazel 8 native platform()", Attrs: attrs("constraint_values", TLabelList, "parents", TLabelList, "flags", TStringList, "required_settings", TLabelList, "missing_toolchain_error", TString)},
	"alias":            {Source: "Bazel 8 native alias()", Attrs: attrs("actual", TLabel), Mandatory: []string{"actual"}},
	"filegroup":        {Source: "Bazel 8 native filegroup()", Attrs: attrs("srcs", TLabelList, "data", TLabelList, "output_group", TString)},
	"config_setting":   {Source: "Bazel 8 native config_setting()", Attrs: attrs("values", TStringDict, "define_values", TStringDict, "flag_values", TLabelKeyedDict, "constraint_values", TLabelList)},
	"package_group":    {Source: "Bazel 8 native package_group()", Attrs: attrs("packages", TStringList, "includes", TLabelList)},
	"exports_files":    {Source: "Bazel 8 native exports_files()", Attrs: attrs()},
	"constraint_value": {Source: "Bazel 8 native constraint_value()", Attrs: attrs("constraint_setting", TLabel), Mandatory: []string{"constraint_setting"}},
}

// Test policy of this project (docs/bazel-verification.md):
var (
	validSizes    = []string{"small", "medium", "large", "enormous"}
	validTimeouts = []string{"short", "moderate", "long", "eternal"}
	// AllowedTags and why each is allowed; any other tag is an error.
	AllowedTags = map[string]string{
		"manual":           "kept out of //... (targets that need AWS or the network)",
		"external":         "needs something outside the build (never cached)",
		"requires-network": "needs the network (sandbox gives it one)",
		"exclusive":        "runs alone",
	}
	// ForbiddenTags say why they are refused.
	ForbiddenTags = map[string]string{
		"no-sandbox": "a test must pass in the sandbox's runfiles layout (issue 7, defect 2); read symlinks instead",
		"local":      "same as no-sandbox",
	}
	// SpawnerPackages start the AWS emulator or service processes; a test
	// that depends on them, directly or not, must be medium or larger.
	SpawnerPackages = []string{"//internal/stack:stack"}
	// ForbiddenEnvInherit would let a test reach real AWS or depend on the
	// user's home.
	ForbiddenEnvInherit = []string{"HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}
	envNameRE           = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func typeName(v Value) string {
	switch v := v.(type) {
	case string:
		return "string"
	case int64:
		return "int"
	case bool:
		return "bool"
	case nil:
		return "NoneType"
	case []Value:
		return "list"
	case *Dict:
		return "dict"
	case *Select:
		return "select"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func show(v Value) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []Value:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *Dict:
		return "{...}"
	case bool:
		if v {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

func allStrings(v Value) bool {
	l, ok := v.([]Value)
	if !ok {
		return false
	}
	for _, e := range l {
		if _, ok := e.(string); !ok {
			if _, unknown := e.(Unknown); !unknown {
				return false
			}
		}
	}
	return true
}

func stringDict(v Value) bool {
	d, ok := v.(*Dict)
	if !ok {
		return false
	}
	for i := range d.Keys {
		for _, e := range []Value{d.Keys[i], d.Values[i]} {
			if _, ok := e.(string); !ok {
				if _, unknown := e.(Unknown); !unknown {
					return false
				}
			}
		}
	}
	return true
}

// fits reports whether v is a value of type t (None is every type's default).
func fits(t Type, v Value) bool {
	switch v.(type) {
	case nil, Unknown:
		return true
	}
	_, isStr := v.(string)
	switch t {
	case TLabel, TString, TOutput:
		return isStr
	case TLabelList, TStringList:
		return allStrings(v)
	case TStringDict:
		return stringDict(v)
	case TLabelKeyedDict:
		_, ok := v.(*Dict)
		return ok
	case TBool:
		if _, ok := v.(bool); ok {
			return true
		}
		n, ok := v.(int64)
		return ok && (n == 0 || n == 1)
	case TInt:
		_, ok := v.(int64)
		return ok
	case TLabelOrStringList:
		return isStr || allStrings(v)
	case TLabelOrStringDict:
		return isStr || stringDict(v)
	}
	return false
}

// CheckSchemas checks every target's attributes against its rule's schema,
// and the project's policy for tests, tags and env.
func (ws *Workspace) CheckSchemas() []Finding {
	var out []Finding
	for _, t := range ws.targets() {
		s, ok := Schemas[t.Kind]
		if !ok {
			out = append(out, Finding{t.Where(), fmt.Sprintf("%s: rule '%s' has no recorded schema: add it to tools/bazelcheck/internal/check/schema.go from the pinned source", t.Label(), t.Kind)})
			continue
		}
		if t.Kind == "exports_files" {
			continue
		}
		report := func(format string, args ...any) {
			out = append(out, Finding{t.Where(), t.Label() + ": " + fmt.Sprintf(format, args...)})
		}
		for _, name := range sortedAttrs(t) {
			v := t.Attrs[name]
			typ, known := s.Attrs[name]
			if !known {
				typ, known = commonAttrs[name]
			}
			if !known && s.Test {
				typ, known = testAttrs[name]
			}
			if !known && s.Binary {
				typ, known = binaryAttrs[name]
			}
			if !known {
				report("no such attribute '%s' in '%s' rule", name, t.Kind)
				continue
			}
			if sel, ok := v.(*Select); ok {
				if slices.Contains(nonConfigurable, name) || slices.Contains(s.NoSelect, name) {
					report("attribute '%s' in '%s' rule is not configurable: it cannot be a select()", name, t.Kind)
					continue
				}
				for _, b := range sel.Values {
					if !fits(typ, b) {
						report("expected value of type '%s' for attribute '%s' in '%s' rule, but got %s (%s)", typ, name, t.Kind, show(b), typeName(b))
					}
				}
				continue
			}
			if !fits(typ, v) {
				report("expected value of type '%s' for attribute '%s' in '%s' rule, but got %s (%s)", typ, name, t.Kind, show(v), typeName(v))
			}
		}
		for _, m := range s.Mandatory {
			if v, ok := t.Attrs[m]; !ok || v == nil {
				report("missing value for mandatory attribute '%s' in '%s' rule", m, t.Kind)
			}
		}
		out = append(out, ws.checkPolicy(t, s)...)
	}
	return out
}

func (ws *Workspace) checkPolicy(t *Target, s Schema) []Finding {
	var out []Finding
	report := func(format string, args ...any) {
		out = append(out, Finding{t.Where(), t.Label() + ": " + fmt.Sprintf(format, args...)})
	}
	tags := strings_(asList(t.Attrs["tags"]))
	for _, tag := range tags {
		if why, bad := ForbiddenTags[tag]; bad {
			report("tag '%s' is not allowed: %s", tag, why)
		} else if _, ok := AllowedTags[tag]; !ok {
			report("tag '%s' is not one this project uses (allowed: manual, external, requires-network, exclusive)", tag)
		}
	}
	if (slices.Contains(tags, "requires-network") || slices.Contains(tags, "external")) && !slices.Contains(tags, "manual") {
		report("tagged requires-network/external but not manual: `bazel test //...` would select it")
	}
	if s.Test {
		size, _ := t.Attrs["size"].(string)
		timeout, _ := t.Attrs["timeout"].(string)
		if _, set := t.Attrs["size"]; set && !slices.Contains(validSizes, size) {
			report("invalid size '%s': one of %s", show(t.Attrs["size"]), strings.Join(validSizes, ", "))
		}
		if _, set := t.Attrs["timeout"]; set && !slices.Contains(validTimeouts, timeout) {
			report("invalid timeout '%s': one of %s", show(t.Attrs["timeout"]), strings.Join(validTimeouts, ", "))
		}
		if via := ws.spawns(t, map[string]bool{}); via != "" && (size == "" || size == "small") && (timeout == "" || timeout == "short") {
			report("starts the AWS emulator or service processes (through %s) but is size \"%s\" (60 s): set size = \"medium\"", via, orDefault(size, "small"))
		}
	}
	if env, ok := t.Attrs["env"].(*Dict); ok {
		for _, k := range env.Keys {
			if ks, ok := k.(string); ok && !envNameRE.MatchString(ks) {
				report("env: invalid environment variable name '%s'", ks)
			}
		}
	}
	for _, n := range strings_(asList(t.Attrs["env_inherit"])) {
		switch {
		case !envNameRE.MatchString(n):
			report("env_inherit: invalid environment variable name '%s'", n)
		case slices.Contains(ForbiddenEnvInherit, n):
			report("env_inherit: '%s' would let a hermetic test use the caller's credentials or home", n)
		}
	}
	return out
}

// spawns returns the first spawner package t depends on through main-repo
// deps and embed, or "".
func (ws *Workspace) spawns(t *Target, seen map[string]bool) string {
	for _, attr := range []string{"deps", "embed"} {
		for _, l := range labelsIn(t.Attrs[attr]) {
			pkg, name, err := splitLabel(l, t.Pkg)
			if err != nil {
				continue
			}
			label := "//" + pkg + ":" + name
			if slices.Contains(SpawnerPackages, label) {
				return label
			}
			if seen[label] {
				continue
			}
			seen[label] = true
			if r, err := ws.resolve(pkg, name); err == nil && r.target != nil {
				if via := ws.spawns(r.target, seen); via != "" {
					return via
				}
			}
		}
	}
	return ""
}

func asList(v Value) []Value {
	l, _ := v.([]Value)
	return l
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
