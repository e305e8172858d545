// Package push uploads what an OCI image layout holds to a registry by
// digest, then points tags at it with explicit checks, so that a deploy can
// pin exactly the digest that was built.
package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors a caller may want to tell apart; each is wrapped with context.
var (
	// ErrUnauthorized: the registry refused the credentials (HTTP 401/403).
	ErrUnauthorized = errors.New("registry refused the credentials")
	// ErrRepositoryNotFound: the repository does not exist. ECR does not
	// create repositories on push; they belong to the infrastructure code.
	ErrRepositoryNotFound = errors.New("repository does not exist")
	// ErrTagImmutable: the tag points at another digest and the repository
	// refuses to move it.
	ErrTagImmutable = errors.New("tag is immutable")
	// ErrDigestMismatch: after tagging, the registry reports a digest other
	// than the one pushed.
	ErrDigestMismatch = errors.New("registry reports a different digest")
)

// TagOutcome says what pushing a tag did.
type TagOutcome int

// Tag outcomes.
const (
	// TagCreated: the tag did not exist and now points at the digest.
	TagCreated TagOutcome = iota
	// TagUnchanged: the tag already pointed at the digest; nothing was written.
	TagUnchanged
	// TagMoved: the tag pointed at another digest and was overwritten
	// (mutable repositories only).
	TagMoved
)

// String names the outcome as it is printed.
func (o TagOutcome) String() string {
	switch o {
	case TagCreated:
		return "created"
	case TagUnchanged:
		return "already tagged"
	case TagMoved:
		return "moved"
	}
	return fmt.Sprintf("TagOutcome(%d)", int(o))
}

// TagResult is the outcome for one tag.
type TagResult struct {
	Tag     string
	Outcome TagOutcome
	// Previous is the digest the tag pointed at before it moved.
	Previous v1.Hash
}

// Result is what one Push did.
type Result struct {
	// Ref is registry/repository@digest, the reference deploys should pin.
	Ref  name.Digest
	Tags []TagResult
}

// Pusher pushes artifacts to one registry.
type Pusher struct {
	// Registry is host[:port]. Loopback hosts are spoken to over plain HTTP
	// (go-containerregistry's rule), which is what the tests rely on.
	Registry string
	// Options are passed to every go-containerregistry call, typically
	// remote.WithAuth; the context is added by Push.
	Options []remote.Option
}

// Push uploads the artifact by digest (children and blobs first, which
// go-containerregistry orders for referential integrity), then applies each
// tag in order and checks the registry reports the pushed digest for it.
//
// A tag already on the digest is left alone. A tag on another digest is
// overwritten and reported as TagMoved; an immutable repository (ECR's
// imageTagMutability=IMMUTABLE) refuses that, which is ErrTagImmutable.
// Overwriting is the choice for mutable repositories because tags such as
// "latest" or a branch name are meant to move, and the pinned digest on
// stdout, not the tag, is what deploys use.
func (p *Pusher) Push(ctx context.Context, repository string, a *Artifact, tags []string) (Result, error) {
	repo, err := name.NewRepository(p.Registry+"/"+repository, name.StrictValidation)
	if err != nil {
		return Result{}, fmt.Errorf("repository %q: %w", repository, err)
	}
	opts := append(append([]remote.Option(nil), p.Options...), remote.WithContext(ctx))

	res := Result{Ref: repo.Digest(a.Digest.String())}
	if err := remote.Push(res.Ref, a.Manifest, opts...); err != nil {
		return res, classify("push "+res.Ref.String(), err)
	}
	for _, t := range tags {
		tr, err := applyTag(repo.Tag(t), a, opts)
		if err != nil {
			return res, err
		}
		res.Tags = append(res.Tags, tr)
	}
	return res, nil
}

func applyTag(tag name.Tag, a *Artifact, opts []remote.Option) (TagResult, error) {
	tr := TagResult{Tag: tag.TagStr(), Outcome: TagCreated}
	prev, err := remoteDigest(tag, opts)
	if err != nil {
		return tr, classify("look up tag "+tag.String(), err)
	}
	if prev == a.Digest {
		tr.Outcome = TagUnchanged
		return tr, nil
	}
	if prev != (v1.Hash{}) {
		tr.Outcome, tr.Previous = TagMoved, prev
	}

	if err := remote.Put(tag, a.Manifest, opts...); err != nil {
		if isImmutableTag(err) {
			if prev == (v1.Hash{}) {
				return tr, fmt.Errorf("tag %s: %w: the registry refused to set it (%v)", tag, ErrTagImmutable, err)
			}
			return tr, fmt.Errorf("tag %s: %w: it points at %s, not %s; push a new tag instead", tag, ErrTagImmutable, prev, a.Digest)
		}
		return tr, classify("tag "+tag.String(), err)
	}

	// Tagging is a separate write; read it back so that a proxy or cache
	// answering with an older manifest cannot go unnoticed.
	got, err := remoteDigest(tag, opts)
	if err != nil {
		return tr, classify("verify tag "+tag.String(), err)
	}
	if got != a.Digest {
		if got == (v1.Hash{}) {
			return tr, fmt.Errorf("verify tag %s: %w: tag not found after it was pushed", tag, ErrDigestMismatch)
		}
		return tr, fmt.Errorf("verify tag %s: %w: got %s, pushed %s", tag, ErrDigestMismatch, got, a.Digest)
	}
	return tr, nil
}

// remoteDigest returns the digest a reference resolves to, or the zero
// hash if the registry does not know it.
func remoteDigest(ref name.Reference, opts []remote.Option) (v1.Hash, error) {
	d, err := remote.Head(ref, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound && !hasCode(terr, transport.NameUnknownErrorCode) {
			return v1.Hash{}, nil
		}
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// classify names the cause for the failures an operator can fix, keeping
// the registry's own words after it.
func classify(op string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case hasCode(terr, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: %w (create it first): %v", op, ErrRepositoryNotFound, err)
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden,
			hasCode(terr, transport.UnauthorizedErrorCode), hasCode(terr, transport.DeniedErrorCode):
			return fmt.Errorf("%s: %w: %v", op, ErrUnauthorized, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func hasCode(terr *transport.Error, code transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// isImmutableTag recognises ECR's refusal to overwrite a tag. Over the
// registry API ECR answers 400 TAG_INVALID "The image tag 'x' already exists
// in the 'y' repository and cannot be overwritten because the repository is
// immutable." (newer wording: "because the tag is immutable"); its own API
// calls the same condition ImageTagAlreadyExistsException.
func isImmutableTag(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			if strings.Contains(strings.ToLower(d.Message), "immutable") || strings.Contains(strings.ToUpper(string(d.Code)), "IMMUTABLE") {
				return true
			}
		}
	}
	return strings.Contains(err.Error(), "ImageTagAlreadyExistsException")
}
