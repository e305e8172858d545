package imagecheck

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// maxBinary bounds how much of an entrypoint is read into memory.
const maxBinary = 512 << 20

// tree is the flattened filesystem's headers, keyed by path without the
// leading slash.
type tree map[string]*tar.Header

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// scan reads the headers of the flattened filesystem; mutate.Extract has
// already applied whiteouts, so what is listed is what a container sees.
func scan(img v1.Image) (tree, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	t := tree{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, err
		}
		if p := clean(h.Name); p != "" {
			t[p] = h
		}
	}
}

var errLoop = errors.New("too many levels of symbolic links")

// resolve follows symbolic links (in any component) and hard links the way
// the kernel would inside the image root, returning the final path and its
// header. Directories the archive does not list are taken to exist, since
// layer tars often omit parent entries.
func (t tree) resolve(p string) (string, *tar.Header, error) { return t.walk(p, false) }

// walk is resolve; with implicitLast a missing final component is taken to
// be a directory too, which is what looking up a parent directory needs.
func (t tree) walk(p string, implicitLast bool) (string, *tar.Header, error) {
	parts := strings.Split(clean(p), "/")
	cur, hops := "", 0
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		h, ok := t[next]
		last := i == len(parts)-1
		switch {
		case !ok && last && !implicitLast:
			return "", nil, fmt.Errorf("/%s does not exist", next)
		case ok && h.Typeflag == tar.TypeSymlink:
			if hops++; hops > 40 {
				return "", nil, errLoop
			}
			target := h.Linkname
			if !path.IsAbs(target) {
				target = path.Join("/", cur, target)
			}
			parts = append(strings.Split(clean(target), "/"), parts[i+1:]...)
			cur, i = "", -1
			continue
		case ok && last && h.Typeflag == tar.TypeLink:
			return t.walk("/"+clean(h.Linkname), implicitLast)
		}
		cur = next
	}
	return cur, t[cur], nil
}

// shells lists the ShellPaths present as files or links (dangling ones
// too), one name per file, so a merged-/usr image reports /bin/sh once
// rather than again as /usr/bin/sh.
func (t tree) shells() []string {
	seen := map[string]bool{}
	var found []string
	for _, p := range ShellPaths {
		dir, base := path.Split(p)
		rdir, _, err := t.walk(dir, true)
		if err != nil {
			continue
		}
		key := path.Join(rdir, base)
		if _, ok := t[key]; ok && !seen[key] {
			seen[key] = true
			found = append(found, p)
		}
	}
	return found
}

func checkEntrypoint(img v1.Image, t tree, ep []string, user, arch string, report func(rule, format string, args ...any) Problem) []Problem {
	if len(ep) == 0 || ep[0] == "" {
		return []Problem{report("entrypoint", "entrypoint is empty")}
	}
	exe := ep[0]
	var probs []Problem
	if !path.IsAbs(exe) {
		probs = append(probs, report("entrypoint", "entrypoint %q is not an absolute path", exe))
	}
	if slices.Contains(shellNames, path.Base(exe)) || len(ep) > 1 && ep[1] == "-c" {
		probs = append(probs, report("entrypoint", "entrypoint %q runs a shell; want exec form of the service binary", ep))
	}

	real, h, err := t.resolve(exe)
	if err != nil {
		return append(probs, report("entrypoint", "entrypoint %s: %v", exe, err))
	}
	if h == nil || h.Typeflag != tar.TypeReg {
		kind := "a directory"
		if h != nil {
			kind = fmt.Sprintf("of tar type %q", h.Typeflag)
		}
		return append(probs, report("entrypoint", "entrypoint %s is %s, not a regular file", exe, kind))
	}
	if !executableBy(h, user) {
		probs = append(probs, report("entrypoint", "entrypoint %s (mode %04o, owner %d:%d) is not executable by user %q", exe, h.Mode&0o7777, h.Uid, h.Gid, user))
	}

	data, err := readFile(img, real, h.Size)
	if err != nil {
		return append(probs, report("entrypoint", "reading %s: %v", exe, err))
	}
	return append(probs, checkELF(data, exe, arch, report)...)
}

var shellNames = []string{"sh", "bash", "busybox", "ash", "dash"}

// executableBy applies the permission bits that the kernel would for the
// config user "uid[:gid]"; a non-numeric user falls back to "any execute
// bit", since names cannot be resolved without /etc/passwd.
func executableBy(h *tar.Header, user string) bool {
	mode := h.Mode
	u, g, _ := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return mode&0o111 != 0
	}
	gid := -1
	if g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			gid = -1
		}
	}
	switch {
	case uid == 0:
		return mode&0o111 != 0
	case h.Uid == uid:
		return mode&0o100 != 0
	case h.Gid == gid:
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

func readFile(img v1.Image, p string, size int64) ([]byte, error) {
	if size > maxBinary {
		return nil, fmt.Errorf("%d bytes is more than the %d this check reads", size, maxBinary)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, err
		}
		if clean(h.Name) == p && h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, maxBinary))
		}
	}
}

// elfMachines maps GOARCH-style platform architectures to ELF machines.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
	"loong64": elf.EM_LOONGARCH,
}

func checkELF(data []byte, exe, arch string, report func(rule, format string, args ...any) Problem) []Problem {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return []Problem{report("static", "entrypoint %s is not an ELF executable: %v", exe, err)}
	}
	defer f.Close()
	var probs []Problem
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 4096))
			probs = append(probs, report("static", "entrypoint %s is dynamically linked (interpreter %s)", exe, strings.TrimRight(string(interp), "\x00")))
			break
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		probs = append(probs, report("static", "entrypoint %s: reading its dynamic section: %v", exe, err))
	} else if len(libs) > 0 {
		probs = append(probs, report("static", "entrypoint %s needs shared libraries %v", exe, libs))
	}
	if want, ok := elfMachines[arch]; !ok {
		probs = append(probs, report("arch", "no known ELF machine for architecture %q", arch))
	} else if f.Machine != want {
		probs = append(probs, report("arch", "entrypoint %s is built for %s, platform wants %s (%s)", exe, f.Machine, arch, want))
	}
	return probs
}
