package deploy

import (
	"fmt"
	"regexp"
	"strings"
)

// ImageRef is an image named by its immutable digest, as
// `bazel run //images:push` prints it:
// 123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@sha256:…
type ImageRef struct {
	Registry   string // 123456789012.dkr.ecr.eu-west-1.amazonaws.com
	Repository string // msgpipe/api
	Digest     string // sha256:<64 hex>
}

// String is the reference as a task definition's image field holds it.
func (r ImageRef) String() string { return r.Registry + "/" + r.Repository + "@" + r.Digest }

// Name is the last element of the repository, which names the service's
// image: "api" for msgpipe/api.
func (r ImageRef) Name() string { return r.Repository[strings.LastIndex(r.Repository, "/")+1:] }

// RegistryID is the account of an ECR registry host, or "" for a host that
// is not one (then ECR's default, the caller's account, applies).
func (r ImageRef) RegistryID() string {
	if m := ecrHost.FindStringSubmatch(r.Registry); m != nil {
		return m[1]
	}
	return ""
}

// ShortDigest is the digest cut to 12 hex digits, for summaries.
func (r ImageRef) ShortDigest() string {
	if len(r.Digest) > len("sha256:")+12 {
		return r.Digest[:len("sha256:")+12]
	}
	return r.Digest
}

var (
	ecrHost    = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$`)
	digestRe   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	repoRe     = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	registryRe = regexp.MustCompile(`^[A-Za-z0-9.-]+(?::\d+)?$`)
)

// ParseImageRef parses registry/repository@sha256:digest. A tag, with or
// without a digest, is refused: a tag can move between the check and the
// deploy, a digest cannot, and a task definition that names a digest
// always starts the image that was validated.
func ParseImageRef(s string) (ImageRef, error) {
	s = strings.TrimSpace(s)
	name, digest, hasDigest := strings.Cut(s, "@")
	slash := strings.Index(name, "/")
	if slash <= 0 || !strings.ContainsAny(name[:slash], ".:") && name[:slash] != "localhost" {
		return ImageRef{}, fmt.Errorf("%q: want <registry>/<repository>@sha256:<digest>, as `bazel run //images:push` prints it", s)
	}
	registry, repo := name[:slash], name[slash+1:]
	if i := strings.LastIndex(repo, ":"); i >= 0 {
		return ImageRef{}, fmt.Errorf("%q names the tag %q: tags move, so a deploy names an immutable digest (<repository>@sha256:…, the line `bazel run //images:push` prints)", s, repo[i+1:])
	}
	if !hasDigest {
		return ImageRef{}, fmt.Errorf("%q has no digest: a deploy names an immutable digest (<repository>@sha256:…, the line `bazel run //images:push` prints)", s)
	}
	if !digestRe.MatchString(digest) {
		return ImageRef{}, fmt.Errorf("%q: digest %q is not sha256: followed by 64 lower-case hex digits", s, digest)
	}
	if !registryRe.MatchString(registry) || !repoRe.MatchString(repo) {
		return ImageRef{}, fmt.Errorf("%q: not a valid registry/repository name", s)
	}
	return ImageRef{Registry: registry, Repository: repo, Digest: digest}, nil
}
