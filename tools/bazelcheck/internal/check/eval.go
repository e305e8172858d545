// Package check reads a Bazel workspace's BUILD files with buildifier's
// parser (github.com/bazelbuild/buildtools/build), expands the workspace's
// own legacy macros, and checks what Bazel's loading and analysis phases
// would refuse: labels that name nothing, targets not visible to the rule
// that names them, $(location) expansions of undeclared labels, and
// attributes that do not fit the rule's schema as the pinned rule sources
// define it.
package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bazelbuild/buildtools/build"
)

// Value is an evaluated Starlark value: string, int64, bool, nil (None),
// []Value, *Dict, *Select, or Unknown.
type Value any

// Dict is a Starlark dict with its keys in source order.
type Dict struct {
	Keys   []Value
	Values []Value
}

// Select is a select() call: its conditions (label strings) and values.
type Select struct {
	Keys   []string
	Values []Value
}

// Unknown stands for a value the evaluator does not compute (a call to a
// function it does not model). Checks skip it rather than guess.
type Unknown struct{ What string }

// Target is one rule instance, as Bazel would create it.
type Target struct {
	Pkg   string // package path, "" for the root
	Name  string
	Kind  string // the rule or external macro called, e.g. "go_test"
	From  string // the .bzl it was loaded from, "" for a native rule
	Attrs map[string]Value
	File  string // BUILD or .bzl file of the call
	Line  int
	Col   int
	// Via names the workspace macro that declared it, if any.
	Via string
}

// Label is the target's canonical label, e.g. //libs/awsconfig:awsconfig_test.
func (t *Target) Label() string { return "//" + t.Pkg + ":" + t.Name }

// Where is the position of the call, as Bazel prints it.
func (t *Target) Where() string { return fmt.Sprintf("%s:%d:%d", t.File, t.Line, t.Col) }

// Package is one BUILD file's package.
type Package struct {
	Path              string
	File              string
	Targets           map[string]*Target
	Order             []*Target
	DefaultVisibility []string // nil when package() does not set it
}

// Workspace is every package under a root.
type Workspace struct {
	Root     string
	Packages map[string]*Package
	// Errors are problems found while loading (syntax, unknown macros).
	Errors []string
}

type macro struct {
	def     *build.DefStmt
	file    string            // path relative to the root
	loadsOf map[string]loaded // the .bzl file's loads, which its body calls
}

type loader struct {
	ws     *Workspace
	macros map[string]map[string]*macro // .bzl label -> name -> def
}

// Load parses every BUILD.bazel and BUILD file under root (skipping bazel-*
// output links and hidden directories) and evaluates it.
func Load(root string) (*Workspace, error) {
	ws := &Workspace{Root: root, Packages: map[string]*Package{}}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), "bazel-") || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "BUILD.bazel" || d.Name() == "BUILD") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	l := &loader{ws: ws, macros: map[string]map[string]*macro{}}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if pkg == "." {
			pkg = ""
		}
		if _, dup := ws.Packages[pkg]; dup {
			continue // BUILD.bazel wins over BUILD, as in Bazel
		}
		if err := l.loadPackage(pkg, filepath.ToSlash(rel)); err != nil {
			ws.Errors = append(ws.Errors, err.Error())
		}
	}
	return ws, nil
}

func (l *loader) loadPackage(pkg, file string) error {
	data, err := os.ReadFile(filepath.Join(l.ws.Root, file))
	if err != nil {
		return err
	}
	f, err := build.ParseBuild(file, data)
	if err != nil {
		return err
	}
	p := &Package{Path: pkg, File: file, Targets: map[string]*Target{}}
	l.ws.Packages[pkg] = p
	env := map[string]Value{}
	fr := &frame{l: l, pkg: p, file: file, env: env, loads: map[string]loaded{}}
	for _, stmt := range f.Stmt {
		fr.stmt(stmt)
	}
	return fr.err
}

// loaded is a symbol a load() statement brought in.
type loaded struct {
	module string // e.g. "@rules_go//go:def.bzl" or "//images:service_image.bzl"
	name   string // its name in that module
}

type frame struct {
	l     *loader
	pkg   *Package
	file  string // file being evaluated (BUILD or .bzl)
	env   map[string]Value
	loads map[string]loaded
	via   string
	err   error
}

func (fr *frame) fail(x build.Expr, format string, args ...any) {
	start, _ := x.Span()
	msg := fmt.Sprintf("%s:%d:%d: %s", fr.file, start.Line, start.LineRune, fmt.Sprintf(format, args...))
	fr.l.ws.Errors = append(fr.l.ws.Errors, msg)
}

func (fr *frame) stmt(x build.Expr) {
	switch x := x.(type) {
	case *build.LoadStmt:
		for i := range x.To {
			fr.loads[x.To[i].Name] = loaded{module: x.Module.Value, name: x.From[i].Name}
		}
	case *build.AssignExpr:
		if id, ok := lhsIdent(x); ok {
			fr.env[id.Name] = fr.eval(x.RHS)
		}
	case *build.CallExpr:
		fr.call(x)
	case *build.Comprehension:
		fr.eval(x)
	case *build.DefStmt, *build.CommentBlock:
	case *build.ForStmt:
		it := fr.eval(x.X)
		list, ok := it.([]Value)
		id, isID := x.Vars.(*build.Ident)
		if !ok || !isID {
			fr.fail(x, "for loop over something that is not a list of values")
			return
		}
		for _, v := range list {
			fr.env[id.Name] = v
			for _, s := range x.Body {
				fr.stmt(s)
			}
		}
	case *build.ReturnStmt:
	default:
		fr.eval(x)
	}
}

func (fr *frame) eval(x build.Expr) Value {
	switch x := x.(type) {
	case *build.StringExpr:
		return x.Value
	case *build.LiteralExpr:
		if n, err := strconv.ParseInt(x.Token, 0, 64); err == nil {
			return n
		}
		return Unknown{x.Token}
	case *build.Ident:
		switch x.Name {
		case "None":
			return nil
		case "True":
			return true
		case "False":
			return false
		}
		if v, ok := fr.env[x.Name]; ok {
			return v
		}
		return Unknown{x.Name}
	case *build.ListExpr:
		out := make([]Value, 0, len(x.List))
		for _, e := range x.List {
			out = append(out, fr.eval(e))
		}
		return out
	case *build.TupleExpr:
		out := make([]Value, 0, len(x.List))
		for _, e := range x.List {
			out = append(out, fr.eval(e))
		}
		return out
	case *build.DictExpr:
		d := &Dict{}
		for _, kv := range x.List {
			d.Keys = append(d.Keys, fr.eval(kv.Key))
			d.Values = append(d.Values, fr.eval(kv.Value))
		}
		return d
	case *build.ParenExpr:
		return fr.eval(x.X)
	case *build.BinaryExpr:
		return fr.binary(x)
	case *build.Comprehension:
		return fr.comprehension(x)
	case *build.CallExpr:
		return fr.call(x)
	}
	return Unknown{fmt.Sprintf("%T", x)}
}

func (fr *frame) binary(x *build.BinaryExpr) Value {
	a, b := fr.eval(x.X), fr.eval(x.Y)
	switch x.Op {
	case "+":
		switch a := a.(type) {
		case string:
			if b, ok := b.(string); ok {
				return a + b
			}
		case []Value:
			if b, ok := b.([]Value); ok {
				return append(append([]Value{}, a...), b...)
			}
		}
	case "%":
		if f, ok := a.(string); ok {
			var args []any
			switch b := b.(type) {
			case []Value:
				for _, v := range b {
					args = append(args, v)
				}
			default:
				args = []any{b}
			}
			for _, v := range args {
				if _, ok := v.(Unknown); ok {
					return Unknown{"%"}
				}
			}
			return fmt.Sprintf(strings.ReplaceAll(f, "%r", "%q"), args...)
		}
	}
	return Unknown{x.Op}
}

func (fr *frame) comprehension(x *build.Comprehension) Value {
	var out []Value
	var loop func(i int)
	loop = func(i int) {
		if i == len(x.Clauses) {
			out = append(out, fr.eval(x.Body))
			return
		}
		switch c := x.Clauses[i].(type) {
		case *build.ForClause:
			list, ok := fr.eval(c.X).([]Value)
			id, isID := c.Vars.(*build.Ident)
			if !ok || !isID {
				fr.fail(c, "comprehension over something that is not a list of values")
				return
			}
			saved, had := fr.env[id.Name]
			for _, v := range list {
				fr.env[id.Name] = v
				loop(i + 1)
			}
			if had {
				fr.env[id.Name] = saved
			} else {
				delete(fr.env, id.Name)
			}
		case *build.IfClause:
			if b, ok := fr.eval(c.Cond).(bool); !ok || b {
				loop(i + 1)
			}
		}
	}
	loop(0)
	return out
}

// call evaluates a call: a rule (native or loaded), a workspace macro, or one
// of the few builtins BUILD files here use.
func (fr *frame) call(x *build.CallExpr) Value {
	// Methods: "sep".join(list).
	if dot, ok := x.X.(*build.DotExpr); ok {
		recv := fr.eval(dot.X)
		if s, ok := recv.(string); ok && dot.Name == "join" && len(x.List) == 1 {
			if list, ok := fr.eval(x.List[0]).([]Value); ok {
				parts := make([]string, 0, len(list))
				for _, v := range list {
					p, ok := v.(string)
					if !ok {
						return Unknown{"join"}
					}
					parts = append(parts, p)
				}
				return strings.Join(parts, s)
			}
		}
		return Unknown{dot.Name}
	}
	id, ok := x.X.(*build.Ident)
	if !ok {
		return Unknown{"call"}
	}
	var pos []Value
	kw := map[string]Value{}
	for _, arg := range x.List {
		if a, ok := arg.(*build.AssignExpr); ok {
			if k, ok := lhsIdent(a); ok {
				kw[k.Name] = fr.eval(a.RHS)
				continue
			}
		}
		pos = append(pos, fr.eval(arg))
	}
	switch id.Name {
	case "select":
		s := &Select{}
		if len(pos) > 0 {
			if d, ok := pos[0].(*Dict); ok {
				for i, k := range d.Keys {
					ks, _ := k.(string)
					s.Keys = append(s.Keys, ks)
					s.Values = append(s.Values, d.Values[i])
				}
			}
		}
		return s
	case "package":
		if v, ok := kw["default_visibility"].([]Value); ok {
			fr.pkg.DefaultVisibility = strings_(v)
		}
		return nil
	case "glob", "len", "str", "fail", "print", "struct", "Label", "depset":
		return Unknown{id.Name}
	case "exports_files":
		if len(pos) > 0 {
			if list, ok := pos[0].([]Value); ok {
				for _, f := range strings_(list) {
					fr.addTarget(x, &Target{Name: f, Kind: "exports_files", Attrs: map[string]Value{"visibility": kw["visibility"]}})
				}
			}
		}
		return nil
	}
	if ld, ok := fr.loads[id.Name]; ok {
		if m := fr.l.macro(fr, x, ld); m != nil {
			fr.expand(x, m, pos, kw)
			return nil
		}
		return fr.rule(x, id.Name, ld.module, kw)
	}
	if _, ok := fr.env[id.Name]; ok {
		return Unknown{id.Name}
	}
	// A native rule (platform, alias, filegroup, config_setting, ...).
	return fr.rule(x, id.Name, "", kw)
}

func (fr *frame) rule(x *build.CallExpr, kind, from string, kw map[string]Value) Value {
	name, ok := kw["name"].(string)
	if !ok {
		fr.fail(x, "%s: missing value for mandatory attribute 'name'", kind)
		return nil
	}
	fr.addTarget(x, &Target{Name: name, Kind: kind, From: from, Attrs: kw})
	return nil
}

func (fr *frame) addTarget(x build.Expr, t *Target) {
	start, _ := x.Span()
	t.Pkg, t.File, t.Line, t.Col, t.Via = fr.pkg.Path, fr.file, start.Line, start.LineRune, fr.via
	if old, dup := fr.pkg.Targets[t.Name]; dup {
		fr.fail(x, "%s rule '%s' conflicts with existing %s rule, defined at %s", t.Kind, t.Name, old.Kind, old.Where())
		return
	}
	fr.pkg.Targets[t.Name] = t
	fr.pkg.Order = append(fr.pkg.Order, t)
}

// macro returns the workspace macro a load names, or nil when the module is
// another repository's (its symbols are rules, as far as this check goes).
func (l *loader) macro(fr *frame, x build.Expr, ld loaded) *macro {
	mod := ld.module
	if strings.HasPrefix(mod, "@") {
		return nil
	}
	// Resolve ":x.bzl" against the loading package, "//p:x.bzl" as is.
	pkg, name, err := splitLabel(mod, fr.pkg.Path)
	if err != nil {
		fr.fail(x, "invalid load label %q: %v", mod, err)
		return nil
	}
	key := "//" + pkg + ":" + name
	defs, ok := l.macros[key]
	if !ok {
		defs = map[string]*macro{}
		l.macros[key] = defs
		file := path.Join(pkg, name)
		data, err := os.ReadFile(filepath.Join(l.ws.Root, filepath.FromSlash(file)))
		if err != nil {
			fr.fail(x, "cannot load '%s': %v", key, errors.Unwrap(err))
			return nil
		}
		f, err := build.ParseBzl(file, data)
		if err != nil {
			fr.fail(x, "%v", err)
			return nil
		}
		loads := map[string]loaded{}
		for _, s := range f.Stmt {
			switch s := s.(type) {
			case *build.LoadStmt:
				for i := range s.To {
					loads[s.To[i].Name] = loaded{module: s.Module.Value, name: s.From[i].Name}
				}
			case *build.DefStmt:
				defs[s.Name] = &macro{def: s, file: file}
			}
		}
		for _, m := range defs {
			m.loadsOf = loads
		}
	}
	m, ok := defs[ld.name]
	if !ok {
		fr.fail(x, "file '%s' does not contain symbol '%s'", key, ld.name)
		return nil
	}
	return m
}

// expand runs a legacy macro's body in the calling package: the targets it
// declares belong to that package, and relative labels passed to it resolve
// there.
func (fr *frame) expand(x *build.CallExpr, m *macro, pos []Value, kw map[string]Value) {
	env := map[string]Value{}
	for i, p := range m.def.Params {
		var name string
		var def Value
		switch p := p.(type) {
		case *build.Ident:
			name = p.Name
		case *build.AssignExpr:
			id, _ := lhsIdent(p)
			name = id.Name
			def = fr.eval(p.RHS)
		default:
			continue
		}
		switch v, ok := kw[name]; {
		case ok:
			env[name] = v
			delete(kw, name)
		case i < len(pos):
			env[name] = pos[i]
		case isAssign(p):
			env[name] = def
		default:
			fr.fail(x, "%s() missing 1 required positional argument: %s", m.def.Name, name)
			return
		}
	}
	for k := range kw {
		fr.fail(x, "%s() got unexpected keyword argument: %s", m.def.Name, k)
	}
	sub := &frame{l: fr.l, pkg: fr.pkg, file: m.file, env: env, loads: m.loadsOf, via: m.def.Name + " (" + fr.file + ")"}
	for _, s := range m.def.Body {
		sub.stmt(s)
	}
}

func isAssign(x build.Expr) bool { _, ok := x.(*build.AssignExpr); return ok }

func strings_(list []Value) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// lhsIdent is the name an assignment or keyword argument binds.
func lhsIdent(a *build.AssignExpr) (*build.Ident, bool) {
	id, ok := a.LHS.(*build.Ident)
	return id, ok
}
