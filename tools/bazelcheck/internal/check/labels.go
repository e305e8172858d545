package check

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// LabelAttrs are the attributes whose values name targets or files.
var LabelAttrs = map[string]bool{
	"deps": true, "embed": true, "data": true, "srcs": true, "target": true,
	"platform": true, "platforms": true, "image": true, "images": true, "base": true,
	"tars": true, "actual": true, "target_platform": true, "constraint_values": true,
	"target_compatible_with": true, "exec_compatible_with": true,
}

// ExpandAttrs are the attributes whose strings get $(location ...) expansion.
var ExpandAttrs = map[string]bool{"args": true, "env": true, "x_defs": true}

// prereqAttrs are where a $(location) label must be declared.
var prereqAttrs = []string{"data", "srcs", "deps", "embed"}

var locationRE = regexp.MustCompile(`\$\((location|locations|rootpath|rootpaths|rlocationpath|rlocationpaths|execpath|execpaths)\s+([^)\s]+)\s*\)`)

// errExternal marks a label in another repository; the module checks cover
// those (bzlcheck, .ci/bazel-checks.sh).
var errExternal = errors.New("external")

// splitLabel returns the package and name of a main-repository label,
// resolving relative forms against pkg.
func splitLabel(l, pkg string) (string, string, error) {
	if strings.HasPrefix(l, "@") {
		rest := strings.TrimLeft(l, "@")
		if i := strings.Index(rest, "//"); i >= 0 && (i == 0 || rest[:i] == "_main") {
			l = rest[i:] // @//x and @@//x are the main repository
		} else {
			return "", "", errExternal
		}
	}
	switch {
	case strings.HasPrefix(l, "//"):
		body := l[2:]
		p, n, ok := strings.Cut(body, ":")
		if !ok {
			n = path.Base(body)
			if body == "" {
				return "", "", fmt.Errorf("invalid label '%s': empty package-relative label", l)
			}
		}
		if n == "" {
			return "", "", fmt.Errorf("invalid label '%s': empty target name", l)
		}
		return p, n, nil
	case strings.HasPrefix(l, ":"):
		if len(l) == 1 {
			return "", "", fmt.Errorf("invalid label '%s': empty target name", l)
		}
		return pkg, l[1:], nil
	case l == "":
		return "", "", errors.New("invalid label '': empty target name")
	default:
		return pkg, l, nil
	}
}

// Finding is one error, in Bazel's words where Bazel has words for it.
type Finding struct {
	Where string // file:line:col
	Msg   string
}

func (f Finding) String() string { return f.Where + ": " + f.Msg }

type resolved struct {
	label  string
	target *Target // nil for a source file
}

// resolve finds what a main-repository label names: a target or a source
// file. The error is Bazel's loading-phase message.
func (ws *Workspace) resolve(pkg, name string) (resolved, error) {
	label := "//" + pkg + ":" + name
	p, ok := ws.Packages[pkg]
	if !ok {
		return resolved{}, fmt.Errorf("no such package '%s': BUILD file not found in any of the following directories. Add a BUILD file to a directory to mark it as a package.\n - %s", pkg, pkg)
	}
	if t, ok := p.Targets[name]; ok {
		return resolved{label: label, target: t}, nil
	}
	file := filepath.Join(ws.Root, filepath.FromSlash(pkg), filepath.FromSlash(name))
	if fi, err := os.Stat(file); err == nil && !fi.IsDir() {
		// A source file, unless a subpackage owns it.
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			sub := path.Join(pkg, dir)
			if _, isPkg := ws.Packages[sub]; isPkg {
				rest := strings.TrimPrefix(name, dir+"/")
				return resolved{}, fmt.Errorf("Label '%s' is invalid because '%s' is a subpackage; perhaps you meant to put the colon here: '//%s:%s'?", label, sub, sub, rest)
			}
		}
		return resolved{label: label}, nil
	}
	return resolved{}, fmt.Errorf("no such target '%s': target '%s' not declared in package '%s' defined by %s", label, name, pkg, filepath.Join(ws.Root, filepath.FromSlash(p.File)))
}

// visibility is the target's effective visibility list.
func (ws *Workspace) visibility(t *Target) []string {
	if v, ok := t.Attrs["visibility"].([]Value); ok {
		return strings_(v)
	}
	if t.Kind == "exports_files" {
		return []string{"//visibility:public"}
	}
	if d := ws.Packages[t.Pkg].DefaultVisibility; d != nil {
		return d
	}
	return []string{"//visibility:private"}
}

// visible reports whether target t may be depended on from package from.
func (ws *Workspace) visible(t *Target, from string) bool {
	if t.Pkg == from {
		return true
	}
	for _, v := range ws.visibility(t) {
		if ws.grants(v, t.Pkg, from, map[string]bool{}) {
			return true
		}
	}
	return false
}

func (ws *Workspace) grants(v, owner, from string, seen map[string]bool) bool {
	switch v {
	case "//visibility:public":
		return true
	case "//visibility:private":
		return false
	}
	pkg, name, err := splitLabel(v, owner)
	if err != nil {
		return false
	}
	switch name {
	case "__pkg__":
		return from == pkg
	case "__subpackages__":
		return pkg == "" || from == pkg || strings.HasPrefix(from, pkg+"/")
	}
	key := "//" + pkg + ":" + name
	if seen[key] {
		return false
	}
	seen[key] = true
	r, err := ws.resolve(pkg, name)
	if err != nil || r.target == nil || r.target.Kind != "package_group" {
		return false
	}
	return ws.groupContains(r.target, from, seen)
}

// groupContains applies a package_group's packages (with "-" exclusions,
// "//a/..." subtrees, "public"/"private") and its includes.
func (ws *Workspace) groupContains(g *Target, from string, seen map[string]bool) bool {
	match := func(spec string) bool {
		switch spec {
		case "public", "//...":
			return true
		case "private":
			return false
		}
		p := strings.TrimPrefix(spec, "//")
		if sub, ok := strings.CutSuffix(p, "/..."); ok {
			return from == sub || strings.HasPrefix(from, sub+"/")
		}
		return from == p
	}
	in := false
	specs, _ := g.Attrs["packages"].([]Value)
	for _, s := range strings_(specs) {
		if neg, ok := strings.CutPrefix(s, "-"); ok {
			if match(neg) {
				return false
			}
			continue
		}
		if match(s) {
			in = true
		}
	}
	if in {
		return true
	}
	incs, _ := g.Attrs["includes"].([]Value)
	for _, inc := range strings_(incs) {
		if ws.grants(inc, g.Pkg, from, seen) {
			return true
		}
	}
	return false
}

// labelsIn lists the strings of a value: a string, a list, or a select's
// branches.
func labelsIn(v Value) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []Value:
		var out []string
		for _, e := range v {
			out = append(out, labelsIn(e)...)
		}
		return out
	case *Select:
		var out []string
		for _, e := range v.Values {
			out = append(out, labelsIn(e)...)
		}
		return out
	}
	return nil
}

// expansionStrings lists the strings of args (list), env and x_defs (dicts).
func expansionStrings(v Value) []string {
	switch v := v.(type) {
	case *Dict:
		var out []string
		for _, e := range v.Values {
			out = append(out, expansionStrings(e)...)
		}
		return out
	case *Select:
		var out []string
		for _, e := range v.Values {
			out = append(out, expansionStrings(e)...)
		}
		return out
	}
	return labelsIn(v)
}

// CheckLabels checks every label every target names.
func (ws *Workspace) CheckLabels() []Finding {
	var out []Finding
	for _, t := range ws.targets() {
		ruleDesc := fmt.Sprintf("in %s rule %s", t.Kind, t.Label())
		attrNames := sortedAttrs(t)
		for _, attr := range attrNames {
			v := t.Attrs[attr]
			if LabelAttrs[attr] {
				for _, l := range labelsIn(v) {
					out = append(out, ws.checkDep(t, ruleDesc, attr, l)...)
				}
			}
			if s, ok := v.(*Select); ok {
				for _, k := range s.Keys {
					out = append(out, ws.checkSelectKey(t, attr, k)...)
				}
			}
			if ExpandAttrs[attr] {
				for _, s := range expansionStrings(v) {
					for _, m := range locationRE.FindAllStringSubmatch(s, -1) {
						out = append(out, ws.checkExpansion(t, ruleDesc, attr, m[1], m[2])...)
					}
				}
			}
		}
		// A visibility label must name something that can grant it.
		if v, ok := t.Attrs["visibility"].([]Value); ok {
			for _, l := range strings_(v) {
				if pkg, name, err := splitLabel(l, t.Pkg); err == nil && !strings.HasPrefix(name, "__") && !strings.HasPrefix(l, "//visibility:") {
					if _, err := ws.resolve(pkg, name); err != nil {
						out = append(out, Finding{t.Where(), fmt.Sprintf("%s: invalid visibility label '%s': %v", ruleDesc, l, err)})
					}
				}
			}
		}
	}
	return out
}

func (ws *Workspace) checkDep(t *Target, ruleDesc, attr, l string) []Finding {
	pkg, name, err := splitLabel(l, t.Pkg)
	if errors.Is(err, errExternal) {
		return nil
	}
	if err != nil {
		return []Finding{{t.Where(), fmt.Sprintf("%s: %v", ruleDesc, err)}}
	}
	r, err := ws.resolve(pkg, name)
	if err != nil {
		return []Finding{{t.Where(), fmt.Sprintf("%v and referenced by '%s'", err, t.Label())}}
	}
	if r.target != nil && !ws.visible(r.target, t.Pkg) {
		return []Finding{{t.Where(), fmt.Sprintf("%s: target '%s' is not visible from target '%s'. Check the visibility declaration of the former target if you think the dependency is legitimate", ruleDesc, r.label, t.Label())}}
	}
	return nil
}

func (ws *Workspace) checkSelectKey(t *Target, attr, k string) []Finding {
	if k == "//conditions:default" {
		return nil
	}
	pkg, name, err := splitLabel(k, t.Pkg)
	if errors.Is(err, errExternal) {
		return nil
	}
	if err == nil {
		var r resolved
		if r, err = ws.resolve(pkg, name); err == nil {
			switch {
			case r.target == nil || (r.target.Kind != "config_setting" && r.target.Kind != "constraint_value"):
				err = fmt.Errorf("%s is not a valid select() condition for %s (a config_setting or constraint_value is needed)", r.label, t.Label())
			case !ws.visible(r.target, t.Pkg):
				err = fmt.Errorf("target '%s' is not visible from target '%s'", r.label, t.Label())
			}
		}
	}
	if err != nil {
		return []Finding{{t.Where(), fmt.Sprintf("in %s rule %s: select() key of attribute '%s': %v", t.Kind, t.Label(), attr, err)}}
	}
	return nil
}

func (ws *Workspace) checkExpansion(t *Target, ruleDesc, attr, fn, l string) []Finding {
	pkg, name, err := splitLabel(l, t.Pkg)
	if errors.Is(err, errExternal) {
		return nil
	}
	if err != nil {
		return []Finding{{t.Where(), fmt.Sprintf("in %s attribute of %s rule %s: %v", attr, t.Kind, t.Label(), err)}}
	}
	want := "//" + pkg + ":" + name
	for _, a := range prereqAttrs {
		for _, d := range labelsIn(t.Attrs[a]) {
			if dp, dn, err := splitLabel(d, t.Pkg); err == nil && "//"+dp+":"+dn == want {
				return nil
			}
		}
	}
	return []Finding{{t.Where(), fmt.Sprintf("in %s attribute of %s rule %s: label '%s' in $(%s) expression is not declared in the prerequisites of this rule", attr, t.Kind, t.Label(), want, fn)}}
}

func (ws *Workspace) targets() []*Target {
	pkgs := make([]string, 0, len(ws.Packages))
	for p := range ws.Packages {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var out []*Target
	for _, p := range pkgs {
		out = append(out, ws.Packages[p].Order...)
	}
	return out
}

func sortedAttrs(t *Target) []string {
	names := make([]string, 0, len(t.Attrs))
	for k := range t.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
