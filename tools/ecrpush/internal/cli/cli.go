// Package cli is ecrpush's command line: it reconciles flags with the
// environment, loads the layouts, and turns push results into digest pins on
// stdout and one line per event or problem on stderr.
package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtoken"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/push"
)

// Exit codes.
const (
	ExitOK = 0
	// ExitFailure: authentication or the push itself failed.
	ExitFailure = 1
	// ExitUsage: flags, environment or layouts are wrong; nothing was sent.
	ExitUsage = 2
)

// DefaultRepositoryPrefix is prepended to an image's name when neither
// --repository nor --repository-prefix/ECR_REPOSITORY_PREFIX says otherwise.
const DefaultRepositoryPrefix = "msgpipe/"

// TokenSource yields registry credentials; ecrtoken.Source is the real one.
type TokenSource interface {
	Token(ctx context.Context) (ecrtoken.Token, error)
}

// Image is one --image after repository resolution.
type Image struct {
	// Name is the service name, e.g. "api".
	Name string
	// Dir is the OCI layout directory as given.
	Dir string
	// Repository is the registry repository, e.g. "msgpipe/api".
	Repository string
}

// Config is a push request with flags and environment reconciled.
type Config struct {
	Images []Image
	// Registry is host[:port]; empty means the token's proxy endpoint.
	Registry string
	// Tags in the order they are applied: the stamped git SHA first, so an
	// immutable-tag conflict stops the run before a moving tag like
	// "latest" has moved.
	Tags   []string
	DryRun bool
}

const usage = `usage: ecrpush --image=NAME=LAYOUT_DIR [--image=...] [flags]

Pushes each OCI image layout (an image index, as rules_oci's oci_image_index
writes it) to ECR by digest, then applies the tags, and prints
REGISTRY/REPOSITORY@DIGEST per image on stdout.

flags (environment fallback in brackets):
  --image NAME=DIR          layout to push; repeat per image
  --registry HOST           registry host [ECR_REGISTRY]; default: the ECR
                            token's proxy endpoint
  --repository-prefix P     repository = P + NAME [ECR_REPOSITORY_PREFIX]
                            (default "msgpipe/")
  --repository NAME=REPO    explicit repository for one image; repeatable
  --tag TAG                 tag to apply; repeatable [IMAGE_TAGS, comma
                            separated, added to the flags]
  --dry-run                 print what would be pushed; needs no credentials

The git SHA stamped at link time (bazel --config=release) is always a tag.
Exit status: 0 ok, 1 auth or push failure, 2 usage or layout error.
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ParseConfig reads flags, then fills gaps from lookupEnv. gitSHA is the
// link-time stamp; empty or unexpanded ("{STABLE_GIT_SHA}") means the
// build was not stamped. The error joins every problem found.
func ParseConfig(args []string, lookupEnv func(string) (string, bool), gitSHA string) (Config, error) {
	fs := flag.NewFlagSet("ecrpush", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var images, repos, tags listFlag
	var cfg Config
	prefix := DefaultRepositoryPrefix
	fs.Var(&images, "image", "")
	fs.Var(&repos, "repository", "")
	fs.Var(&tags, "tag", "")
	fs.StringVar(&cfg.Registry, "registry", "", "")
	fs.StringVar(&prefix, "repository-prefix", prefix, "")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	env := func(k string) (string, bool) {
		v, ok := lookupEnv(k)
		return strings.TrimSpace(v), ok
	}

	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0)))
	}
	if !set["registry"] {
		cfg.Registry, _ = env("ECR_REGISTRY")
	}
	if cfg.Registry != "" {
		host, err := ecrtoken.RegistryHost(cfg.Registry)
		if err == nil {
			_, err = name.NewRegistry(host, name.StrictValidation)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--registry %q: not a registry host", cfg.Registry))
		}
		cfg.Registry = host
	}
	if !set["repository-prefix"] {
		if v, ok := env("ECR_REPOSITORY_PREFIX"); ok {
			prefix = v
		}
	}

	explicit := map[string]string{}
	for _, r := range repos {
		n, repo, ok := strings.Cut(r, "=")
		if !ok || n == "" || repo == "" {
			errs = append(errs, fmt.Errorf("--repository %q: want NAME=REPOSITORY", r))
			continue
		}
		explicit[n] = repo
	}
	seen := map[string]bool{}
	for _, spec := range images {
		n, dir, ok := strings.Cut(spec, "=")
		if !ok || n == "" || dir == "" {
			errs = append(errs, fmt.Errorf("--image %q: want NAME=LAYOUT_DIR", spec))
			continue
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("--image %s given twice", n))
			continue
		}
		seen[n] = true
		repo, ok := explicit[n]
		if !ok {
			repo = prefix + n
		}
		if _, err := name.NewRepository("registry.invalid/"+repo, name.StrictValidation); err != nil {
			errs = append(errs, fmt.Errorf("repository %q for image %s: lowercase letters, digits and . _ - / only", repo, n))
		}
		cfg.Images = append(cfg.Images, Image{Name: n, Dir: dir, Repository: repo})
	}
	if len(images) == 0 {
		errs = append(errs, errors.New("no images: pass --image=NAME=LAYOUT_DIR"))
	}
	for n := range explicit {
		if !seen[n] {
			errs = append(errs, fmt.Errorf("--repository %s: no --image of that name", n))
		}
	}

	all := []string{}
	if sha := strings.TrimSpace(gitSHA); sha != "" && !strings.Contains(sha, "{") {
		all = append(all, sha)
	}
	all = append(all, tags...)
	if v, _ := env("IMAGE_TAGS"); v != "" {
		all = append(all, strings.Split(v, ",")...)
	}
	dup := map[string]bool{}
	for _, t := range all {
		t = strings.TrimSpace(t)
		switch {
		case t == "" || dup[t]:
			continue
		case !tagPattern.MatchString(t):
			errs = append(errs, fmt.Errorf("tag %q: want 1-128 of letters, digits, _ . - (not starting with . or -)", t))
			continue
		}
		dup[t] = true
		cfg.Tags = append(cfg.Tags, t)
	}
	if len(cfg.Tags) == 0 {
		errs = append(errs, errors.New("no tags: build with --config=release or pass --tag"))
	}
	return cfg, errors.Join(errs...)
}

// Runner runs one ecrpush invocation. Its fields are what main wires and
// tests replace.
type Runner struct {
	Stdout, Stderr io.Writer
	// LookupEnv is os.LookupEnv in production.
	LookupEnv func(string) (string, bool)
	// GitSHA is the link-time stamp (see ParseConfig).
	GitSHA string
	// NewTokenSource is called only when something is to be pushed, so a
	// dry run needs no AWS configuration.
	NewTokenSource func(context.Context) (TokenSource, error)
	// RemoteOptions are added to every registry call (tests shorten retries).
	RemoteOptions []remote.Option
}

// Run executes args and returns the process exit code.
func (r *Runner) Run(ctx context.Context, args []string) int {
	cfg, err := ParseConfig(args, r.LookupEnv, r.GitSHA)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(r.Stdout, usage)
		return ExitOK
	}
	if err != nil {
		r.fail(r.Stderr, err)
		return ExitUsage
	}

	arts := make([]*push.Artifact, len(cfg.Images))
	var errs []error
	for i, im := range cfg.Images {
		a, err := push.Load(r.resolve(im.Dir))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", im.Name, err))
		}
		arts[i] = a
	}
	if len(errs) > 0 {
		r.fail(r.Stderr, errors.Join(errs...))
		return ExitUsage
	}

	if cfg.DryRun {
		reg := cfg.Registry
		if reg == "" {
			reg = "<registry from ECR token>"
		}
		for i, im := range cfg.Images {
			fmt.Fprintf(r.Stdout, "would push %s/%s@%s %s tags=%s\n", reg, im.Repository, arts[i].Digest, arts[i].Describe(), strings.Join(cfg.Tags, ","))
		}
		return ExitOK
	}

	src, err := r.NewTokenSource(ctx)
	if err != nil {
		r.fail(r.Stderr, fmt.Errorf("auth: %w", err))
		return ExitFailure
	}
	tok, err := src.Token(ctx)
	if err != nil {
		r.fail(r.Stderr, fmt.Errorf("auth: %w", err))
		return ExitFailure
	}
	// From here on anything printed passes through a filter for the
	// password, in case a registry or proxy echoes it back in an error.
	stdout, stderr := redact(r.Stdout, tok), redact(r.Stderr, tok)
	if cfg.Registry == "" {
		if cfg.Registry, err = tok.Registry(); err != nil {
			r.fail(stderr, fmt.Errorf("auth: %w", err))
			return ExitFailure
		}
	}

	p := &push.Pusher{
		Registry: cfg.Registry,
		Options: append([]remote.Option{
			remote.WithAuth(&authn.Basic{Username: tok.Username, Password: tok.Password}),
			remote.WithUserAgent("msgpipe-ecrpush"),
		}, r.RemoteOptions...),
	}
	for i, im := range cfg.Images {
		res, err := p.Push(ctx, im.Repository, arts[i], cfg.Tags)
		for _, tr := range res.Tags {
			switch tr.Outcome {
			case push.TagMoved:
				fmt.Fprintf(stderr, "ecrpush: %s: tag %s moved from %s to %s\n", im.Name, tr.Tag, tr.Previous, arts[i].Digest)
			default:
				fmt.Fprintf(stderr, "ecrpush: %s: tag %s %s\n", im.Name, tr.Tag, tr.Outcome)
			}
		}
		if err != nil {
			r.fail(stderr, fmt.Errorf("%s: %w", im.Name, err))
			return ExitFailure
		}
		fmt.Fprintln(stdout, res.Ref.String())
	}
	return ExitOK
}

// resolve finds a layout dir given relative to the runfiles tree (how
// `bazel run` passes $(rlocationpath ...)) or to the directory bazel was
// run from, when it is not found relative to the working directory.
func (r *Runner) resolve(dir string) string {
	if filepath.IsAbs(dir) {
		return dir
	}
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	for _, k := range []string{"RUNFILES_DIR", "BUILD_WORKING_DIRECTORY"} {
		if base, ok := r.LookupEnv(k); ok && base != "" {
			if p := filepath.Join(base, dir); exists(p) {
				return p
			}
		}
	}
	return dir
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// fail prints one line per joined error.
func (r *Runner) fail(w io.Writer, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		fmt.Fprintf(w, "ecrpush: %s\n", strings.Join(strings.Fields(e.Error()), " "))
	}
}

type redactor struct {
	w       io.Writer
	secrets []string
}

func redact(w io.Writer, tok ecrtoken.Token) io.Writer {
	if tok.Password == "" {
		return w
	}
	return &redactor{w: w, secrets: []string{
		base64.StdEncoding.EncodeToString([]byte(tok.Username + ":" + tok.Password)),
		tok.Password,
	}}
}

// Write assumes whole lines per call, which is how Run prints.
func (r *redactor) Write(p []byte) (int, error) {
	s := string(p)
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
