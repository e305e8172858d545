package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/cli"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtest"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtoken"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/push"
)

const password = "eyJwYXlsb2FkIjoidG9wc2VjcmV0In0"

type fakeTokens struct {
	tok ecrtoken.Token
	err error
}

func (f fakeTokens) Token(context.Context) (ecrtoken.Token, error) { return f.tok, f.err }

type run struct {
	code           int
	stdout, stderr string
}

type harness struct {
	t       *testing.T
	env     map[string]string
	sha     string
	tokens  cli.TokenSource
	noCreds bool // NewTokenSource must not be called
}

func newHarness(t *testing.T, reg *ecrtest.Registry) *harness {
	h := &harness{t: t, env: map[string]string{}}
	if reg != nil {
		h.tokens = fakeTokens{tok: ecrtoken.Token{Username: "AWS", Password: password, ProxyEndpoint: reg.URL, ExpiresAt: time.Now().Add(time.Hour)}}
	}
	return h
}

func (h *harness) run(args ...string) run {
	h.t.Helper()
	var stdout, stderr bytes.Buffer
	r := &cli.Runner{
		Stdout: &stdout, Stderr: &stderr,
		LookupEnv: func(k string) (string, bool) { v, ok := h.env[k]; return v, ok },
		GitSHA:    h.sha,
		NewTokenSource: func(context.Context) (cli.TokenSource, error) {
			if h.noCreds {
				h.t.Error("credentials were requested")
			}
			if h.tokens == nil {
				return nil, errors.New("no AWS credentials in this test")
			}
			return h.tokens, nil
		},
		RemoteOptions: []remote.Option{remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})},
	}
	res := run{code: r.Run(context.Background(), args), stdout: stdout.String(), stderr: stderr.String()}
	encoded := base64.StdEncoding.EncodeToString([]byte("AWS:" + password))
	for _, out := range []string{res.stdout, res.stderr} {
		if strings.Contains(out, password) || strings.Contains(out, encoded) {
			h.t.Errorf("output contains the registry password:\n%s", out)
		}
	}
	return res
}

// layouts writes api and consumer layouts as rules_oci does and returns
// their --image flags and digests.
func layouts(t *testing.T) (flags []string, digests map[string]string) {
	t.Helper()
	digests = map[string]string{}
	for _, n := range []string{"api", "consumer"} {
		dir := filepath.Join(t.TempDir(), n+"_index")
		idx := ecrtest.Index(t)
		ecrtest.WriteNestedLayout(t, dir, idx)
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		flags = append(flags, "--image="+n+"="+dir)
		digests[n] = d.String()
	}
	return flags, digests
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func TestFirstPushPrintsOnePinnedDigestPerImage(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Username: "AWS", Password: password, ImmutableTags: true,
		Repositories: []string{"msgpipe/api", "msgpipe/consumer"}})
	h := newHarness(t, reg)
	h.sha = "0123abc"
	h.env["IMAGE_TAGS"] = "latest, main"
	flags, digests := layouts(t)

	res := h.run(flags...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	want := []string{
		reg.Host + "/msgpipe/api@" + digests["api"],
		reg.Host + "/msgpipe/consumer@" + digests["consumer"],
	}
	if got := lines(res.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	for _, want := range []string{"api: tag 0123abc created", "api: tag latest created", "consumer: tag main created"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

func TestRepushSkipsTagsAlreadyOnTheDigest(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{ImmutableTags: true})
	h := newHarness(t, reg)
	flags, _ := layouts(t)
	args := append(flags, "--tag=v1")
	first := h.run(args...)
	second := h.run(args...)
	if first.code != 0 || second.code != 0 {
		t.Fatalf("exit %d then %d; stderr:\n%s%s", first.code, second.code, first.stderr, second.stderr)
	}
	if first.stdout != second.stdout {
		t.Errorf("pins differ between pushes:\n%s\n%s", first.stdout, second.stdout)
	}
	if strings.Count(second.stderr, "tag v1 already tagged") != 2 {
		t.Errorf("second push stderr:\n%s", second.stderr)
	}
}

func TestTagConflictInImmutableRepositoryExitsOne(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{ImmutableTags: true})
	h := newHarness(t, reg)
	old, _ := layouts(t)
	if res := h.run(append(old, "--tag=v1")...); res.code != 0 {
		t.Fatalf("setup push: %s", res.stderr)
	}
	flags, _ := layouts(t)
	res := h.run(append(flags, "--tag=v1")...)
	if res.code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d", res.code, cli.ExitFailure)
	}
	last := lines(res.stderr)[len(lines(res.stderr))-1]
	if !strings.HasPrefix(last, "ecrpush: api: tag ") || !strings.Contains(last, push.ErrTagImmutable.Error()) {
		t.Errorf("last stderr line %q, want the api tag conflict", last)
	}
	if res.stdout != "" {
		t.Errorf("stdout pinned something despite the failure: %q", res.stdout)
	}
}

func TestMovedTagInMutableRepositoryIsReported(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	h := newHarness(t, reg)
	old, _ := layouts(t)
	if res := h.run(append(old, "--tag=latest")...); res.code != 0 {
		t.Fatalf("setup push: %s", res.stderr)
	}
	flags, digests := layouts(t)
	res := h.run(append(flags, "--tag=latest")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "api: tag latest moved from sha256:") || !strings.Contains(res.stderr, " to "+digests["api"]) {
		t.Errorf("stderr does not report the move:\n%s", res.stderr)
	}
}

func TestDigestMismatchAfterTaggingExitsOne(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{LieAboutTags: true})
	h := newHarness(t, reg)
	flags, _ := layouts(t)
	res := h.run(append(flags, "--tag=v1")...)
	if res.code != cli.ExitFailure || !strings.Contains(res.stderr, push.ErrDigestMismatch.Error()) {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
}

func TestTokenSourceFailureExitsOneWithOneLine(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	h := newHarness(t, reg)
	h.tokens = fakeTokens{err: errors.New("ecr GetAuthorizationToken: operation error ECR: GetAuthorizationToken,\n no EC2 IMDS role found")}
	flags, _ := layouts(t)
	res := h.run(append(flags, "--tag=v1")...)
	if res.code != cli.ExitFailure {
		t.Fatalf("exit %d, want 1", res.code)
	}
	if got := lines(res.stderr); len(got) != 1 || !strings.HasPrefix(got[0], "ecrpush: auth: ecr GetAuthorizationToken") {
		t.Errorf("stderr = %q, want one auth line", got)
	}
}

func TestMissingAWSConfigExitsOne(t *testing.T) {
	h := newHarness(t, nil)
	flags, _ := layouts(t)
	if res := h.run(append(flags, "--tag=v1")...); res.code != cli.ExitFailure || !strings.HasPrefix(res.stderr, "ecrpush: auth: ") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestRegistryRejectingTheTokenExitsOne(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Username: "AWS", Password: "another-password"})
	h := newHarness(t, reg)
	flags, _ := layouts(t)
	res := h.run(append(flags, "--tag=v1")...)
	if res.code != cli.ExitFailure || !strings.Contains(res.stderr, push.ErrUnauthorized.Error()) {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if n := len(lines(res.stderr)); n != 1 {
		t.Errorf("%d stderr lines, want 1:\n%s", n, res.stderr)
	}
}

func TestMissingRepositoryExitsOne(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{Repositories: []string{}})
	h := newHarness(t, reg)
	flags, _ := layouts(t)
	res := h.run(append(flags, "--tag=v1")...)
	if res.code != cli.ExitFailure || !strings.Contains(res.stderr, "msgpipe/api") || !strings.Contains(res.stderr, push.ErrRepositoryNotFound.Error()) {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
}

func TestExplicitRegistryAndRepositoryOverrideTheDefaults(t *testing.T) {
	reg := ecrtest.New(t, ecrtest.Options{})
	h := newHarness(t, reg)
	h.tokens = fakeTokens{tok: ecrtoken.Token{Username: "AWS", Password: password, ProxyEndpoint: "https://unused.example"}}
	h.env["ECR_REGISTRY"] = "http://" + reg.Host
	h.env["ECR_REPOSITORY_PREFIX"] = "team/"
	flags, digests := layouts(t)
	res := h.run(append(flags, "--repository=consumer=other/consumer", "--tag=v1")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := []string{reg.Host + "/team/api@" + digests["api"], reg.Host + "/other/consumer@" + digests["consumer"]}
	if got := lines(res.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestDryRunListsPushesWithoutCredentialsOrRegistry(t *testing.T) {
	h := newHarness(t, nil)
	h.noCreds = true
	h.sha = "0123abc"
	flags, digests := layouts(t)
	res := h.run(append(flags, "--dry-run", "--tag=latest")...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := []string{
		"would push <registry from ECR token>/msgpipe/api@" + digests["api"] + " index [linux/amd64, linux/arm64/v8] tags=0123abc,latest",
		"would push <registry from ECR token>/msgpipe/consumer@" + digests["consumer"] + " index [linux/amd64, linux/arm64/v8] tags=0123abc,latest",
	}
	if got := lines(res.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout =\n%q\nwant\n%q", got, want)
	}
}

func TestMissingLayoutIsAUsageErrorNamingEachImage(t *testing.T) {
	h := newHarness(t, nil)
	h.noCreds = true
	dir := t.TempDir()
	res := h.run("--image=api="+filepath.Join(dir, "api"), "--image=consumer="+filepath.Join(dir, "consumer"), "--tag=v1")
	if res.code != cli.ExitUsage {
		t.Fatalf("exit %d, want 2", res.code)
	}
	want := []string{
		"ecrpush: api: layout " + filepath.Join(dir, "api") + ": directory does not exist",
		"ecrpush: consumer: layout " + filepath.Join(dir, "consumer") + ": directory does not exist",
	}
	if got := lines(res.stderr); !reflect.DeepEqual(got, want) {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestRelativeLayoutIsFoundUnderRunfiles(t *testing.T) {
	h := newHarness(t, nil)
	h.noCreds = true
	root := t.TempDir()
	ecrtest.WriteNestedLayout(t, filepath.Join(root, "_main/images/api_index"), ecrtest.Index(t))
	h.env["RUNFILES_DIR"] = root
	if res := h.run("--image=api=_main/images/api_index", "--tag=v1", "--dry-run"); res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
}

func TestNoTagsIsAUsageError(t *testing.T) {
	for _, sha := range []string{"", "{STABLE_GIT_SHA}"} {
		h := newHarness(t, nil)
		h.noCreds = true
		h.sha = sha
		flags, _ := layouts(t)
		res := h.run(flags...)
		if res.code != cli.ExitUsage || res.stderr != "ecrpush: no tags: build with --config=release or pass --tag\n" {
			t.Errorf("gitSHA %q: exit %d, stderr %q", sha, res.code, res.stderr)
		}
	}
}

func TestHelpPrintsUsageAndSucceeds(t *testing.T) {
	res := newHarness(t, nil).run("--help")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "usage: ecrpush") {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		sha     string
		want    cli.Config
		wantErr []string
	}{{
		name: "tags from stamp, flags and env, deduplicated, stamp first",
		args: []string{"--image=api=d", "--tag=latest", "--tag=abc"},
		env:  map[string]string{"IMAGE_TAGS": "main,,latest"},
		sha:  "abc",
		want: cli.Config{Images: []cli.Image{{Name: "api", Dir: "d", Repository: "msgpipe/api"}}, Tags: []string{"abc", "latest", "main"}},
	}, {
		name: "flags beat environment",
		args: []string{"--image=api=d", "--tag=v1", "--registry=1.dkr.ecr.eu-west-1.amazonaws.com", "--repository-prefix="},
		env:  map[string]string{"ECR_REGISTRY": "2.dkr.ecr.eu-west-1.amazonaws.com", "ECR_REPOSITORY_PREFIX": "x/"},
		want: cli.Config{Registry: "1.dkr.ecr.eu-west-1.amazonaws.com", Images: []cli.Image{{Name: "api", Dir: "d", Repository: "api"}}, Tags: []string{"v1"}},
	}, {
		name: "registry given as a URL",
		args: []string{"--image=api=d=x", "--tag=v1", "--registry=https://1.dkr.ecr.eu-west-1.amazonaws.com/"},
		want: cli.Config{Registry: "1.dkr.ecr.eu-west-1.amazonaws.com", Images: []cli.Image{{Name: "api", Dir: "d=x", Repository: "msgpipe/api"}}, Tags: []string{"v1"}},
	}, {
		name: "every problem reported at once",
		args: []string{"--image=api", "--image=a=d", "--image=a=e", "--repository=zz=r", "--repository=bad", "--tag=-x", "--registry=https://", "stray"},
		wantErr: []string{
			`unexpected argument "stray"`, `--registry "https://"`, `--repository "bad"`, `--image "api"`,
			"--image a given twice", "--repository zz: no --image", `tag "-x"`, "no tags",
		},
	}, {
		name:    "uppercase repository",
		args:    []string{"--image=API=d", "--tag=v1"},
		wantErr: []string{`repository "msgpipe/API" for image API`},
	}, {
		name:    "no images",
		args:    []string{"--tag=v1"},
		wantErr: []string{"no images"},
	}, {
		name:    "unknown flag",
		args:    []string{"--nope"},
		wantErr: []string{"flag provided but not defined: -nope"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cli.ParseConfig(tc.args, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, tc.sha)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, config %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
