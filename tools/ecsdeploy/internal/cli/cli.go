// Package cli is the ecsdeploy command: flags and environment in, AWS
// clients built from the default credential chain, a deploy run, an exit
// code out. The deploy itself lives in package deploy.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/devops-exam/msgpipe/e2e/check"
	"github.com/devops-exam/msgpipe/libs/awsconfig"
	"github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/deploy"
)

// Exit codes, documented in docs/deploy.md.
const (
	ExitOK       = 0
	ExitFailed   = int(deploy.KindFailed)   // rollout failed, timed out or did not verify
	ExitUsage    = int(deploy.KindUsage)    // bad flags or image references
	ExitImage    = int(deploy.KindImage)    // image refused: not in ECR, tag, scan, platform
	ExitAWS      = int(deploy.KindAWS)      // AWS failed before any change
	ExitRollback = int(deploy.KindRollback) // services may be on the new revision: act by hand
)

// notStarted is the summary of a run stopped before the deploy began.
const notStarted = "deploy FAILED: nothing read or changed; stable: not reached; verify not run"

// DefaultServicePrefix makes the default ECS service name of an image:
// msgpipe-api for …/msgpipe/api.
const DefaultServicePrefix = "msgpipe-"

// Runner runs the command. Its fields are the process's surroundings, so
// tests run it in-process.
type Runner struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	LookupEnv      config.LookupFunc
	// LoadAWS builds the SDK configuration (nil: awsconfig.Load, the
	// default credential chain).
	LoadAWS func(ctx context.Context, region string) (aws.Config, error)
	Clock   deploy.Clock // nil: the wall clock
	// VerifyPoll, when set, is the end-to-end check's S3 poll interval.
	VerifyPoll time.Duration
}

type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }
func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	p[k] = v
	return nil
}

// Run parses args and deploys; it returns the exit code.
func (r *Runner) Run(ctx context.Context, args []string) int {
	env := func(k string) string {
		v, _ := r.LookupEnv(k)
		return strings.TrimSpace(v)
	}
	fs := flag.NewFlagSet("ecsdeploy", flag.ContinueOnError)
	fs.SetOutput(r.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(r.Stderr, "usage: ecsdeploy --cluster NAME [flags] <registry>/<repository>@sha256:<digest>...\n"+
			"       bazel run //images:push | ecsdeploy --cluster NAME --images - [flags]\n\nSee docs/deploy.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cluster := fs.String("cluster", env("ECS_CLUSTER"), "ECS cluster (env ECS_CLUSTER)")
	services, containers := pairs{}, pairs{}
	fs.Var(services, "service", "NAME=SERVICE: the ECS service of image NAME (repeat; default msgpipe-NAME)")
	fs.Var(containers, "container", "NAME=CONTAINER: the container whose image changes (repeat; default NAME)")
	imagesFile := fs.String("images", "", "file of <repository>@sha256:<digest> lines, as //images:push prints them; - for stdin")
	region := fs.String("region", env("AWS_REGION"), "AWS region (env AWS_REGION; default the SDK's lookup)")
	requireScan := fs.Bool("require-scan", false, "refuse images whose ECR scan is missing, unfinished or has CRITICAL findings")
	dryRun := fs.Bool("dry-run", false, "validate, print the task definition diff, change nothing")
	rollback := fs.Bool("rollback-on-failure", false, "on a failed rollout or verification, put every service back on its previous revision")
	timeout := fs.Duration("timeout", deploy.DefaultTimeout, "how long to wait for stability (and again for a rollback)")
	poll := fs.Duration("poll", deploy.DefaultPoll, "how often to poll DescribeServices")
	verify := fs.Bool("verify", true, "run the end-to-end check (e2e) against the deployed API")
	apiURL := fs.String("api-url", env("API_URL"), "API base URL for the check (env API_URL, or http://$ALB_DNS)")
	bucket := fs.String("bucket", env("S3_BUCKET_NAME"), "messages bucket for the check (env S3_BUCKET_NAME)")
	tokenParam := fs.String("token-parameter", env("SSM_PARAMETER_NAME"), "SSM SecureString holding the API token (env SSM_PARAMETER_NAME); API_TOKEN wins when set")
	verifyTimeout := fs.Duration("verify-timeout", check.DefaultTimeout, "how long the check waits for its message in S3")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	usage := func(err error) int {
		fmt.Fprintf(r.Stderr, "ecsdeploy: %v\n", err)
		return ExitUsage
	}
	if dns := env("ALB_DNS"); *apiURL == "" && dns != "" {
		// As the e2e check reads it: a bare DNS name means plain HTTP.
		*apiURL = dns
		if !strings.Contains(dns, "://") {
			*apiURL = "http://" + dns
		}
	}

	if f := *imagesFile; f != "" && f != "-" && !filepath.IsAbs(f) && env("BUILD_WORKING_DIRECTORY") != "" {
		// bazel run starts the tool in its runfiles; a relative path is
		// meant from where the command was typed.
		*imagesFile = filepath.Join(env("BUILD_WORKING_DIRECTORY"), f)
	}
	refs, err := r.readRefs(fs.Args(), *imagesFile)
	if err != nil {
		return usage(err)
	}
	targets, err := buildTargets(refs, services, containers)
	if err != nil {
		return usage(err)
	}
	if *timeout <= 0 || *poll <= 0 || *verifyTimeout <= 0 {
		return usage(errors.New("--timeout, --poll and --verify-timeout must be positive"))
	}
	wantVerify := *verify && !*dryRun
	token := env("API_TOKEN")
	if wantVerify {
		var missing []string
		if *apiURL == "" {
			missing = append(missing, "--api-url (or API_URL / ALB_DNS)")
		}
		if *bucket == "" {
			missing = append(missing, "--bucket (or S3_BUCKET_NAME)")
		}
		if token == "" && *tokenParam == "" {
			missing = append(missing, "--token-parameter (or API_TOKEN / SSM_PARAMETER_NAME)")
		}
		if len(missing) > 0 {
			return usage(fmt.Errorf("verification needs %s; or pass --verify=false", strings.Join(missing, ", ")))
		}
	}

	load := r.LoadAWS
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) { return awsconfig.Load(ctx, region) }
	}
	cfg, err := load(ctx, *region)
	if err != nil {
		fmt.Fprintf(r.Stdout, "error: %v%s\n", err, deploy.Hint(err))
		fmt.Fprintln(r.Stdout, notStarted)
		return ExitAWS
	}
	opts := deploy.Options{
		Cluster: *cluster, Targets: targets, RequireScan: *requireScan, DryRun: *dryRun,
		RollbackOnFailure: *rollback, Timeout: *timeout, Poll: *poll,
	}
	if wantVerify {
		if token == "" {
			// Read before anything changes: a deploy that could not verify
			// should not start.
			token, err = readToken(ctx, ssm.NewFromConfig(cfg), *tokenParam)
			if err != nil {
				fmt.Fprintf(r.Stdout, "error: %v\n", err)
				fmt.Fprintln(r.Stdout, notStarted)
				return ExitAWS
			}
		}
		opts.Verify = &Verifier{Config: check.Config{
			APIURL: *apiURL, Token: token, Bucket: *bucket, S3: awsconfig.NewS3(cfg),
			Timeout: *verifyTimeout, Poll: r.VerifyPoll,
		}}
	}
	d := &deploy.Deployer{ECS: ecs.NewFromConfig(cfg), ECR: ecr.NewFromConfig(cfg), Clock: r.Clock, Out: r.Stdout}
	_, err = d.Run(ctx, opts)
	var de *deploy.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &de):
		return int(de.Kind)
	default:
		return ExitFailed
	}
}

func (r *Runner) readRefs(args []string, file string) ([]deploy.ImageRef, error) {
	lines := append([]string(nil), args...)
	if file != "" {
		var in io.Reader
		if file == "-" {
			in = r.Stdin
		} else {
			f, err := os.Open(file)
			if err != nil {
				return nil, fmt.Errorf("--images: %w", err)
			}
			defer f.Close()
			in = f
		}
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--images: %w", err)
		}
	}
	if len(lines) == 0 {
		return nil, errors.New("no images: pass the <repository>@sha256:<digest> lines `bazel run //images:push` printed, as arguments or with --images")
	}
	var refs []deploy.ImageRef
	var problems []string
	for _, l := range lines {
		for _, f := range strings.Fields(l) {
			ref, err := deploy.ParseImageRef(f)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			refs = append(refs, ref)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n  "))
	}
	return refs, nil
}

func buildTargets(refs []deploy.ImageRef, services, containers pairs) ([]deploy.Target, error) {
	seen := map[string]bool{}
	var targets []deploy.Target
	for _, ref := range refs {
		name := ref.Name()
		if seen[name] {
			return nil, fmt.Errorf("two images for %s: give each service one digest", name)
		}
		seen[name] = true
		t := deploy.Target{Service: DefaultServicePrefix + name, Container: name, Image: ref}
		if s, ok := services[name]; ok {
			t.Service = s
		}
		if c, ok := containers[name]; ok {
			t.Container = c
		}
		targets = append(targets, t)
	}
	var unknown []string
	for _, m := range []pairs{services, containers} {
		for k := range m {
			if !seen[k] {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("--service/--container name images that are not deployed: %s", strings.Join(unknown, ", "))
	}
	return targets, nil
}

// SSM is the part of the SSM client the command uses.
type SSM interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// readToken reads the API token for the check. The value is never printed;
// errors name the parameter only.
func readToken(ctx context.Context, c SSM, name string) (string, error) {
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("ssm:GetParameter %s (the API token for verification): %w%s", name, err, deploy.Hint(err))
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("ssm:GetParameter %s: empty value", name)
	}
	return aws.ToString(out.Parameter.Value), nil
}

// Verifier runs the end-to-end check (package e2e/check) as a library.
type Verifier struct {
	Config check.Config
}

// Verify runs the check, writing its five steps to out.
func (v *Verifier) Verify(ctx context.Context, out io.Writer) error {
	cfg := v.Config
	cfg.Out = out
	_, err := check.Run(ctx, cfg)
	return err
}
