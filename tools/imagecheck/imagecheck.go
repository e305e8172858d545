// Package imagecheck verifies the promises the service images make: both
// platforms, a non-root user, a statically linked exec-form entrypoint built
// for the right CPU, no shell, the service port and the OCI labels. It reports
// every broken promise at once, so one failing build shows the whole list.
package imagecheck

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/devops-exam/msgpipe/internal/ocilayout"
)

// Label keys every image must carry.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelTitle    = "org.opencontainers.image.title"
	LabelLicenses = "org.opencontainers.image.licenses"
)

// DefaultPlatforms are the platforms an index must hold when Expectations
// names none. An arm64 entry also accepts the v8 variant, which is how
// rules_oci spells linux/arm64 for distroless bases.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// DefaultUsers are the accepted config users: distroless "nonroot".
var DefaultUsers = []string{"65532", "65532:65532"}

// ShellPaths are the paths whose presence means the image ships a shell.
// The /usr/bin ones matter for merged-/usr bases where /bin is a symlink.
var ShellPaths = []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/busybox"}

// Expectations describe one service's image.
type Expectations struct {
	// Name must equal the org.opencontainers.image.title label.
	Name string
	// Port must be in the config's ExposedPorts, e.g. "8080/tcp".
	Port string
	// Platforms the index must hold exactly; nil means DefaultPlatforms.
	Platforms []string
	// Users accepted as the config user; nil means DefaultUsers.
	Users []string
}

// Problem is one broken promise.
type Problem struct {
	// Where is "index" or the image's platform, e.g. "linux/arm64/v8".
	Where string
	// Rule names the promise: platforms, config, user, entrypoint, static,
	// arch, shell, port or label.
	Rule string
	// Detail says what was found.
	Detail string
}

// String formats the problem as "where: rule: detail".
func (p Problem) String() string { return p.Where + ": " + p.Rule + ": " + p.Detail }

// OpenLayout opens an OCI image layout directory. When index.json holds a
// single image index (rules_oci's oci_image_index output) that index is
// returned; otherwise index.json itself is, its entries being the images.
// Blobs may be symlinks, as in a sandboxed Bazel test's runfiles; each is
// verified against its digest when read.
func OpenLayout(dir string) (v1.ImageIndex, error) {
	root, err := ocilayout.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open layout %s: %w", dir, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("open layout %s: %w", dir, err)
	}
	if len(im.Manifests) == 1 && im.Manifests[0].MediaType.IsIndex() {
		child, err := root.ImageIndex(im.Manifests[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("open layout %s: %w", dir, err)
		}
		return child, nil
	}
	return root, nil
}

// CheckIndex returns every broken promise of the index and its images; nil
// means all is well.
func CheckIndex(idx v1.ImageIndex, want Expectations) []Problem {
	im, err := idx.IndexManifest()
	if err != nil {
		return []Problem{{"index", "platforms", fmt.Sprintf("reading the index: %v", err)}}
	}
	wantPlatforms := want.Platforms
	if wantPlatforms == nil {
		wantPlatforms = DefaultPlatforms
	}

	var probs []Problem
	found := make([]int, len(wantPlatforms))
	for _, d := range im.Manifests {
		where := d.Digest.String()
		if d.Platform == nil {
			probs = append(probs, Problem{"index", "platforms", fmt.Sprintf("manifest %s has no platform", d.Digest)})
		} else {
			where = d.Platform.String()
			i := slices.IndexFunc(wantPlatforms, func(w string) bool { return platformMatches(w, *d.Platform) })
			if i < 0 {
				probs = append(probs, Problem{"index", "platforms", fmt.Sprintf("unexpected platform %s", where)})
			} else if found[i]++; found[i] == 2 {
				probs = append(probs, Problem{"index", "platforms", fmt.Sprintf("platform %s appears more than once", wantPlatforms[i])})
			}
		}
		if !d.MediaType.IsImage() {
			probs = append(probs, Problem{where, "platforms", fmt.Sprintf("%s is a %s, not an image", d.Digest, d.MediaType)})
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			probs = append(probs, Problem{where, "config", fmt.Sprintf("reading image %s: %v", d.Digest, err)})
			continue
		}
		probs = append(probs, CheckImage(img, d.Platform, want)...)
	}
	for i, n := range found {
		if n == 0 {
			probs = append(probs, Problem{"index", "platforms", fmt.Sprintf("missing platform %s", wantPlatforms[i])})
		}
	}
	return probs
}

func platformMatches(want string, got v1.Platform) bool {
	w, err := v1.ParsePlatform(want)
	if err != nil || w.OS != got.OS || w.Architecture != got.Architecture {
		return false
	}
	if w.Variant == got.Variant {
		return true
	}
	return w.Architecture == "arm64" && w.Variant == "" && got.Variant == "v8"
}

// CheckImage returns the broken promises of one image. platform is the
// index's descriptor platform; nil skips the comparison with the config and
// takes the architecture from the config alone.
func CheckImage(img v1.Image, platform *v1.Platform, want Expectations) []Problem {
	where := "image"
	if platform != nil {
		where = platform.String()
	}
	report := func(rule, format string, args ...any) Problem {
		return Problem{where, rule, fmt.Sprintf(format, args...)}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return []Problem{report("config", "reading the config: %v", err)}
	}
	var probs []Problem
	arch := cf.Architecture
	if platform != nil {
		arch = platform.Architecture
		if cf.OS != platform.OS || cf.Architecture != platform.Architecture {
			probs = append(probs, report("arch", "config is %s/%s but the index says %s", cf.OS, cf.Architecture, platform))
		}
	}

	c := cf.Config
	users := want.Users
	if users == nil {
		users = DefaultUsers
	}
	if !slices.Contains(users, c.User) {
		probs = append(probs, report("user", "config user is %q, want one of %q", c.User, users))
	}
	if _, ok := c.ExposedPorts[want.Port]; !ok {
		probs = append(probs, report("port", "%s is not in ExposedPorts %v", want.Port, sortedKeys(c.ExposedPorts)))
	}
	for _, k := range []string{LabelSource, LabelTitle, LabelLicenses} {
		if strings.TrimSpace(c.Labels[k]) == "" {
			probs = append(probs, report("label", "%s is missing", k))
		}
	}
	if t, ok := c.Labels[LabelTitle]; ok && t != "" && t != want.Name {
		probs = append(probs, report("label", "%s is %q, want %q", LabelTitle, t, want.Name))
	}

	tree, err := scan(img)
	if err != nil {
		return append(probs, report("config", "reading the filesystem: %v", err))
	}
	for _, p := range tree.shells() {
		probs = append(probs, report("shell", "%s is present", p))
	}
	return append(probs, checkEntrypoint(img, tree, c.Entrypoint, c.User, arch, report)...)
}

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
