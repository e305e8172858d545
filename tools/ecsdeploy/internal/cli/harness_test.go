package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"

	ecstemplate "github.com/devops-exam/msgpipe/deploy/ecs"
	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/awsconfig"
	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/ecsfake"
)

// The deployed system the end-to-end check verifies: the real api and
// consumer binaries against the emulator, shared by the package's tests
// (each check run marks its own message).
var pipeline *stack.Stack

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bins, cleanup, err := stack.FindOrBuildTemp(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsdeploy tests: service binaries: %v\n", err)
		return 1
	}
	defer cleanup()
	name := "ecsdeploy-" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000000"), ".", ""))
	pipeline, err = stack.Start(ctx, stack.Options{
		Names:    stack.Names{Queue: name, Bucket: name, Parameter: "/" + name + "/token"},
		Binaries: bins,
		APIEnv:   map[string]string{"LOG_LEVEL": "warn"},
		ConsumerEnv: map[string]string{
			"LOG_LEVEL": "warn", "POLL_INTERVAL": "1s",
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsdeploy tests: start the pipeline: %v\n", err)
		return 1
	}
	defer pipeline.Stop(10 * time.Second)
	return m.Run()
}

const cluster = "msgpipe-test"

// world is one test's AWS: a fake ECS and ECR with the two services
// running revision 1 of their templates, and the shared pipeline behind
// them to verify.
type world struct {
	t    *testing.T
	fake *ecsfake.Server
	old  map[string]string // service name → image running
	new  map[string]string // service name → image to deploy
	env  map[string]string // the command's environment
	out  *testkit.Buffer
	// apiOptions are added to every SDK client's stack (recorders).
	apiOptions []func(*middleware.Stack) error
	// stdin is the next run's standard input.
	stdin string
	// secrets that must never be printed.
	secrets []string
}

// digest makes a distinct, valid digest from a label.
func digest(label string) string {
	sum := sha256.Sum256([]byte(label))
	return "sha256:" + hex.EncodeToString(sum[:])
}

const registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

// putIndex stores a two-platform index and its platform images in the
// fake ECR, scanned with the given CRITICAL count on the arm64 image.
func (w *world) putIndex(repo, label string, critical int, platforms ...string) string {
	if len(platforms) == 0 {
		platforms = []string{"amd64", "arm64"}
	}
	var manifests []map[string]any
	for _, arch := range platforms {
		d := digest(label + "/" + arch)
		manifests = append(manifests, map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 1000,
			"platform": map[string]string{"os": "linux", "architecture": arch},
		})
		findings := map[string]int{"HIGH": 1}
		if arch == "arm64" && critical > 0 {
			findings["CRITICAL"] = critical
		}
		w.fake.PutImage(ecsfake.Image{Repository: repo, Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
			Manifest: `{"schemaVersion":2}`, Scan: &ecsfake.Scan{Status: "COMPLETE", Findings: findings}})
	}
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
	d := digest(label)
	w.fake.PutImage(ecsfake.Image{Repository: repo, Digest: d, Tags: []string{label}, Manifest: string(body)})
	return registry + "/" + repo + "@" + d
}

// newWorld seeds the fake with both services on revision 1 of their
// templates (plus sidecar, when given, in the api's task), and new images
// pushed beside the running ones.
func newWorld(t *testing.T, sidecar map[string]any) *world {
	t.Helper()
	fake, err := ecsfake.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	w := &world{t: t, fake: fake, old: map[string]string{}, new: map[string]string{}, out: &testkit.Buffer{}}
	for _, svc := range ecstemplate.Services {
		w.old[svc] = w.putIndex("msgpipe/"+svc, svc+"-v1", 0)
		w.new[svc] = w.putIndex("msgpipe/"+svc, svc+"-v2", 0)
		vars := map[string]string{
			"ENVIRONMENT": "test", "ACCOUNT_ID": ecsfake.Account, "AWS_REGION": ecsfake.Region,
			"API_IMAGE": w.old[svc], "CONSUMER_IMAGE": w.old[svc],
			"SSM_PARAMETER_NAME": "/msgpipe/test/api-token", "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
			"S3_BUCKET_NAME": "msgpipe-test",
		}
		names, _ := ecstemplate.Placeholders(svc)
		used := map[string]string{}
		for _, n := range names {
			used[n] = vars[n]
		}
		body, err := ecstemplate.Render(svc, used)
		if err != nil {
			t.Fatal(err)
		}
		if svc == "api" && sidecar != nil {
			var td map[string]any
			_ = json.Unmarshal(body, &td)
			td["containerDefinitions"] = append(td["containerDefinitions"].([]any), sidecar)
			body, _ = json.Marshal(td)
		}
		arn, err := fake.RegisterJSON(string(body))
		if err != nil {
			t.Fatal(err)
		}
		fake.AddService(cluster, DefaultServicePrefix+svc, arn, 2)
	}
	res := pipeline.Resources
	w.env = map[string]string{
		"ECS_CLUSTER":        cluster,
		"API_URL":            pipeline.APIURL,
		"S3_BUCKET_NAME":     res.Bucket,
		"SSM_PARAMETER_NAME": res.Parameter,
	}
	w.secrets = []string{res.Token, "test-secret-access-key-never-printed"}
	// The SDK reads its endpoints and credentials from the process
	// environment, as in production: ECS and ECR go to the fake,
	// everything else (S3, SSM) to the emulator.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            pipeline.Emulator.URL,
		"AWS_ENDPOINT_URL_ECS":        fake.URL,
		"AWS_ENDPOINT_URL_ECR":        fake.URL,
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       w.secrets[1],
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  ecsfake.Region,
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
	} {
		t.Setenv(k, v)
	}
	return w
}

// fakeClock advances only when the deploy sleeps, and each sleep is one
// step of the fake's deployments: the tests decide, through the planned
// outcomes, on which poll a rollout ends.
type fakeClock struct {
	now  time.Time
	fake *ecsfake.Server
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	c.fake.Tick()
	return nil
}

// noBackoff keeps the SDK's standard retryer (attempts, retryable codes,
// throttling) but retries at once, so a test does not sleep.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// run runs the command with args and returns its exit code; the output is
// in w.out. It fails the test if a secret was printed.
func (w *world) run(args ...string) int {
	w.t.Helper()
	w.out = &testkit.Buffer{}
	r := &Runner{
		Stdin: strings.NewReader(w.stdin), Stdout: w.out, Stderr: w.out,
		LookupEnv: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
		LoadAWS: func(ctx context.Context, region string) (aws.Config, error) {
			cfg, err := awsconfig.Load(ctx, region)
			cfg.APIOptions = append(cfg.APIOptions, w.apiOptions...)
			cfg.Retryer = func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noBackoff{} })
			}
			return cfg, err
		},
		Clock:      &fakeClock{now: ecsfake.Epoch, fake: w.fake},
		VerifyPoll: 20 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(w.t.Context(), time.Minute)
	defer cancel()
	code := r.Run(ctx, args)
	for _, s := range w.secrets {
		if strings.Contains(w.out.String(), s) {
			w.t.Fatalf("the output contains a secret:\n%s", w.out.String())
		}
	}
	return code
}

// refs are the new images' references, as //images:push prints them.
func (w *world) refs() []string { return []string{w.new["api"], w.new["consumer"]} }

// lastLine is the summary line.
func (w *world) lastLine() string {
	lines := strings.Split(strings.TrimRight(w.out.String(), "\n"), "\n")
	return lines[len(lines)-1]
}

func (w *world) revision(svc string) string {
	arn := w.fake.ServiceTaskDefinition(cluster, DefaultServicePrefix+svc)
	return arn[strings.LastIndex(arn, "/")+1:]
}

func (w *world) expect(code, want int) {
	w.t.Helper()
	if code != want {
		w.t.Fatalf("exit %d, want %d; output:\n%s", code, want, w.out.String())
	}
}

func (w *world) contains(parts ...string) {
	w.t.Helper()
	for _, p := range parts {
		if !strings.Contains(w.out.String(), p) {
			w.t.Fatalf("output lacks %q:\n%s", p, w.out.String())
		}
	}
}
