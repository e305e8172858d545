package push_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtest"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/push"
)

const (
	user     = "AWS"
	password = "s3cr3t-ecr-password"
	repoName = "msgpipe/api"
)

// fastRetry keeps failure tests from sleeping through the default backoff.
var fastRetry = remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})

func pusher(reg *ecrtest.Registry, pass string) *push.Pusher {
	return &push.Pusher{
		Registry: reg.Host,
		Options:  []remote.Option{remote.WithAuth(&authn.Basic{Username: user, Password: pass}), fastRetry},
	}
}

func loadNested(t *testing.T) *push.Artifact {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	ecrtest.WriteNestedLayout(t, dir, ecrtest.Index(t))
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func outcomes(res push.Result) []string {
	var out []string
	for _, tr := range res.Tags {
		out = append(out, tr.Tag+"="+tr.Outcome.String())
	}
	return out
}

func remoteDigestOf(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

func TestFirstPushUploadsIndexChildrenAndTags(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Username: user, Password: password, Repositories: []string{repoName}})
	a := loadNested(t)

	res, err := pusher(reg, password).Push(context.Background(), repoName, a, []string{"abc123", "latest"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if want := reg.Host + "/" + repoName + "@" + a.Digest.String(); res.Ref.String() != want {
		t.Errorf("Ref = %s, want %s", res.Ref, want)
	}
	if got, want := strings.Join(outcomes(res), " "), "abc123=created latest=created"; got != want {
		t.Errorf("tags = %s, want %s", got, want)
	}
	for _, tag := range []string{"abc123", "latest"} {
		if got := remoteDigestOf(t, reg.Host+"/"+repoName+":"+tag); got != a.Digest.String() {
			t.Errorf("tag %s -> %s, want %s", tag, got, a.Digest)
		}
	}
	// The children must be there by digest, or the index is unusable.
	idx, err := remote.Index(res.Ref, remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("remote index has %d manifests, want 2", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		if _, err := remote.Image(res.Ref.Context().Digest(d.Digest.String()), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
			t.Errorf("child %s (%s): %v", d.Digest, d.Platform, err)
		}
	}
}

func TestRepushIsIdempotentAndReportsAlreadyTagged(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{ImmutableTags: true})
	a := loadNested(t)
	p := pusher(reg, password)
	if _, err := p.Push(context.Background(), repoName, a, []string{"abc123"}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Push(context.Background(), repoName, a, []string{"abc123"})
	if err != nil {
		t.Fatalf("second Push on an immutable repository: %v", err)
	}
	if got := strings.Join(outcomes(res), " "); got != "abc123=already tagged" {
		t.Errorf("tags = %s, want abc123=already tagged", got)
	}
}

func TestTagOnOtherDigestInImmutableRepositoryFails(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{ImmutableTags: true})
	p := pusher(reg, password)
	first, second := loadNested(t), loadNested(t)
	if _, err := p.Push(context.Background(), repoName, first, []string{"abc123"}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Push(context.Background(), repoName, second, []string{"abc123"})
	if !errors.Is(err, push.ErrTagImmutable) {
		t.Fatalf("err = %v, want ErrTagImmutable", err)
	}
	for _, want := range []string{first.Digest.String(), second.Digest.String(), ":abc123"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if got := remoteDigestOf(t, reg.Host+"/"+repoName+":abc123"); got != first.Digest.String() {
		t.Errorf("tag moved to %s despite immutability", got)
	}
}

func TestTagOnOtherDigestInMutableRepositoryMoves(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	p := pusher(reg, password)
	first, second := loadNested(t), loadNested(t)
	if _, err := p.Push(context.Background(), repoName, first, []string{"latest"}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Push(context.Background(), repoName, second, []string{"latest"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tags) != 1 || res.Tags[0].Outcome != push.TagMoved || res.Tags[0].Previous != first.Digest {
		t.Fatalf("tags = %+v, want latest moved from %s", res.Tags, first.Digest)
	}
	if got := remoteDigestOf(t, reg.Host+"/"+repoName+":latest"); got != second.Digest.String() {
		t.Errorf("latest -> %s, want %s", got, second.Digest)
	}
}

func TestRegistryReportingAnotherDigestAfterTaggingFails(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{LieAboutTags: true})
	_, err := pusher(reg, password).Push(context.Background(), repoName, loadNested(t), []string{"abc123"})
	if !errors.Is(err, push.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
}

func TestRegistryRejectingCredentialsIsUnauthorized(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Username: user, Password: password})
	_, err := pusher(reg, "wrong").Push(context.Background(), repoName, loadNested(t), []string{"abc123"})
	if !errors.Is(err, push.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q quotes the password", err)
	}
}

func TestMissingRepositoryIsNamed(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Repositories: []string{"msgpipe/consumer"}})
	_, err := pusher(reg, password).Push(context.Background(), repoName, loadNested(t), []string{"abc123"})
	if !errors.Is(err, push.ErrRepositoryNotFound) {
		t.Fatalf("err = %v, want ErrRepositoryNotFound", err)
	}
}

func TestUnreachableRegistryFails(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pusher(reg, password).Push(ctx, repoName, loadNested(t), []string{"abc123"})
	if err == nil || !strings.Contains(err.Error(), reg.Host) {
		t.Fatalf("err = %v, want a failure naming %s", err, reg.Host)
	}
}

func TestPushOfSingleImageLayoutTagsTheImage(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	dir := filepath.Join(t.TempDir(), "layout")
	idx := ecrtest.Index(t)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ecrtest.WriteImageLayout(t, dir, img)
	a, err := push.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pusher(reg, password).Push(context.Background(), repoName, a, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if got := remoteDigestOf(t, reg.Host+"/"+repoName+":v1"); got != im.Manifests[0].Digest.String() {
		t.Errorf("v1 -> %s, want the image %s", got, im.Manifests[0].Digest)
	}
}

func TestTagOutcomeNames(t *testing.T) {
	for o, want := range map[push.TagOutcome]string{push.TagCreated: "created", push.TagUnchanged: "already tagged", push.TagMoved: "moved", 9: "TagOutcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("%d: %q, want %q", int(o), got, want)
		}
	}
}
