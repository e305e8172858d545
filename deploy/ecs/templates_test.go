package ecstemplate

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/internal/testkit"
	"github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/healthcheck"
)

// sample are values a first deployment would fill in.
var sample = map[string]string{
	"ENVIRONMENT":        "dev",
	"ACCOUNT_ID":         "123456789012",
	"AWS_REGION":         "eu-west-1",
	"API_IMAGE":          "123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@sha256:" + strings.Repeat("a", 64),
	"CONSUMER_IMAGE":     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/consumer@sha256:" + strings.Repeat("b", 64),
	"SSM_PARAMETER_NAME": "/devops-exam/dev/api-token",
	"SQS_QUEUE_URL":      "https://sqs.eu-west-1.amazonaws.com/123456789012/msgpipe-dev",
	"S3_BUCKET_NAME":     "msgpipe-dev-messages",
}

func varsFor(t *testing.T, service string) map[string]string {
	t.Helper()
	names, err := Placeholders(service)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, n := range names {
		v, ok := sample[n]
		if !ok {
			t.Fatalf("%s template needs ${%s}: document it in docs/deploy.md and add a sample here", service, n)
		}
		vars[n] = v
	}
	return vars
}

// decode renders service's template and decodes it strictly into the
// SDK's RegisterTaskDefinitionInput: a field name ECS does not know is an
// error here, not a silently dropped setting in production.
func decode(t *testing.T, service string) *ecs.RegisterTaskDefinitionInput {
	t.Helper()
	raw, err := Template(service)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("%s.json is not valid JSON", service)
	}
	b, err := Render(service, varsFor(t, service))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in ecs.RegisterTaskDefinitionInput
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s.json: %v", service, err)
	}
	return &in
}

func env(c ecstypes.ContainerDefinition) map[string]string {
	m := map[string]string{}
	for _, kv := range c.Environment {
		m[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	return m
}

func TestTemplatesHaveEveryRequiredField(t *testing.T) {
	for _, svc := range Services {
		t.Run(svc, func(t *testing.T) {
			in := decode(t, svc)
			if got := aws.ToString(in.Family); got != "msgpipe-dev-"+svc {
				t.Errorf("family %q", got)
			}
			if in.NetworkMode != ecstypes.NetworkModeAwsvpc {
				t.Errorf("networkMode %q, want awsvpc", in.NetworkMode)
			}
			if len(in.RequiresCompatibilities) != 1 || in.RequiresCompatibilities[0] != ecstypes.CompatibilityFargate {
				t.Errorf("requiresCompatibilities %v, want [FARGATE]", in.RequiresCompatibilities)
			}
			rp := in.RuntimePlatform
			if rp == nil || rp.OperatingSystemFamily != ecstypes.OSFamilyLinux ||
				(rp.CpuArchitecture != ecstypes.CPUArchitectureArm64 && rp.CpuArchitecture != ecstypes.CPUArchitectureX8664) {
				t.Errorf("runtimePlatform %+v, want LINUX on ARM64 or X86_64", rp)
			}
			if aws.ToString(in.Cpu) == "" || aws.ToString(in.Memory) == "" {
				t.Error("Fargate needs task-level cpu and memory")
			}
			if !strings.HasSuffix(aws.ToString(in.TaskRoleArn), "-"+svc+"-task") || aws.ToString(in.ExecutionRoleArn) == "" {
				t.Errorf("roles: task %q, execution %q", aws.ToString(in.TaskRoleArn), aws.ToString(in.ExecutionRoleArn))
			}
			if len(in.ContainerDefinitions) != 1 {
				t.Fatalf("%d containers, want 1", len(in.ContainerDefinitions))
			}
			c := in.ContainerDefinitions[0]
			if aws.ToString(c.Name) != svc {
				t.Errorf("container %q: ecsdeploy's default --container is the image name %q", aws.ToString(c.Name), svc)
			}
			if aws.ToString(c.Image) != sample[strings.ToUpper(svc)+"_IMAGE"] {
				t.Errorf("image %q", aws.ToString(c.Image))
			}
			if !aws.ToBool(c.Essential) || !aws.ToBool(c.ReadonlyRootFilesystem) || aws.ToString(c.User) != "65532" {
				t.Errorf("essential %v, readonlyRootFilesystem %v, user %q: want true, true, 65532",
					aws.ToBool(c.Essential), aws.ToBool(c.ReadonlyRootFilesystem), aws.ToString(c.User))
			}
			lc := c.LogConfiguration
			if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs ||
				lc.Options["awslogs-group"] == "" || lc.Options["awslogs-region"] != sample["AWS_REGION"] || lc.Options["awslogs-stream-prefix"] != svc {
				t.Errorf("logConfiguration %+v, want awslogs with group, region and stream prefix", lc)
			}
			e := env(c)
			// ECS sends SIGTERM, waits stopTimeout, then SIGKILLs: the
			// service's own shutdown must finish first.
			shutdown, err := time.ParseDuration(e["SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("SHUTDOWN_TIMEOUT=%q: %v", e["SHUTDOWN_TIMEOUT"], err)
			}
			stop := time.Duration(aws.ToInt32(c.StopTimeout)) * time.Second
			if stop <= shutdown || stop > 120*time.Second {
				t.Errorf("stopTimeout %s must be longer than SHUTDOWN_TIMEOUT %s and at most Fargate's 120s", stop, shutdown)
			}
			_, port, _ := net.SplitHostPort(e["HTTP_ADDR"])
			found := false
			for _, pm := range c.PortMappings {
				found = found || strconv.Itoa(int(aws.ToInt32(pm.ContainerPort))) == port
			}
			if !found {
				t.Errorf("no port mapping for HTTP_ADDR %s", e["HTTP_ADDR"])
			}
			hc := c.HealthCheck
			want := []string{"CMD", "/app/" + svc, healthcheck.Arg}
			if hc == nil || strings.Join(hc.Command, " ") != strings.Join(want, " ") {
				t.Fatalf("healthCheck %+v, want command %q (exec form: distroless has no shell)", hc, want)
			}
			// ECS's timeout must outlast the probe's own, so a slow answer
			// is reported by the probe and not cut off.
			if time.Duration(aws.ToInt32(hc.Timeout))*time.Second <= healthcheck.Timeout {
				t.Errorf("healthCheck timeout %ds must exceed the probe's %s", aws.ToInt32(hc.Timeout), healthcheck.Timeout)
			}
			if len(in.Tags) == 0 {
				t.Error("no tags")
			}
		})
	}
}

// loaderCalls returns, for every variable services/<svc>/internal/config
// reads, the libs/config Loader method that reads it ("Required",
// "Duration", ...). It reads the source, so the test follows the config
// package without a list kept by hand.
func loaderCalls(t *testing.T, svc string) map[string]string {
	t.Helper()
	path := filepath.Join("..", "..", "services", svc, "internal", "config", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("read %s's configuration: %v", svc, err)
	}
	calls := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		lit, isLit := call.Args[0].(*ast.BasicLit)
		if !ok || !isLit || lit.Kind != token.STRING {
			return true
		}
		switch sel.Sel.Name {
		case "String", "Required", "URL", "Addr", "Duration", "Int", "OneOf", "LogLevel":
			name, _ := strconv.Unquote(lit.Value)
			calls[name] = sel.Sel.Name
		}
		return true
	})
	if len(calls) < 5 {
		t.Fatalf("found only %v in %s: has the config package changed shape?", calls, path)
	}
	return calls
}

// notInTemplate are variables a service reads that the template leaves
// unset on purpose.
var notInTemplate = map[string]string{
	"S3_KMS_KEY_ID": "only with S3_SSE=aws:kms; the template uses SSE-S3 (AES256)",
}

// runtimeVars are read by the Go runtime, not by the services' loaders.
var runtimeVars = map[string]string{
	"GOMEMLIMIT": "a soft limit that makes the collector work harder before the task runs out of memory",
}

// The services raise GOGC (libs/gcpolicy), so the heap may grow to five
// times its live size between collections; GOMEMLIMIT keeps that growth
// under the task's memory, with room left for stacks and the runtime.
func TestGOMEMLIMITLeavesHeadroomUnderTheTasksMemory(t *testing.T) {
	for _, svc := range Services {
		in := decode(t, svc)
		v, ok := env(in.ContainerDefinitions[0])["GOMEMLIMIT"]
		if !ok {
			t.Errorf("%s: no GOMEMLIMIT; with GOGC raised the heap has no ceiling below the task's memory", svc)
			continue
		}
		m := regexp.MustCompile(`^([0-9]+)MiB$`).FindStringSubmatch(v)
		if m == nil {
			t.Errorf("%s: GOMEMLIMIT=%q, want a whole number of MiB", svc, v)
			continue
		}
		limit, _ := strconv.Atoi(m[1])
		task, err := strconv.Atoi(aws.ToString(in.Memory))
		if err != nil {
			t.Fatalf("%s: task memory %q: %v", svc, aws.ToString(in.Memory), err)
		}
		if limit > task*3/4 || limit < task/2 {
			t.Errorf("%s: GOMEMLIMIT %d MiB for a task of %d MiB; want between half and three quarters of it", svc, limit, task)
		}
	}
}

func TestTemplateEnvironmentMatchesWhatEachServiceReads(t *testing.T) {
	for _, svc := range Services {
		t.Run(svc, func(t *testing.T) {
			reads := loaderCalls(t, svc)
			e := env(decode(t, svc).ContainerDefinitions[0])
			var unknown, missing []string
			for k := range e {
				if _, ok := reads[k]; !ok && runtimeVars[k] == "" {
					unknown = append(unknown, k)
				}
			}
			for k := range reads {
				if _, ok := e[k]; !ok && notInTemplate[k] == "" {
					missing = append(missing, k)
				}
			}
			sort.Strings(unknown)
			sort.Strings(missing)
			if len(unknown) > 0 {
				t.Errorf("the template sets %v, which %s never reads (misspelt?)", unknown, svc)
			}
			if len(missing) > 0 {
				t.Errorf("%s reads %v, which the template leaves to defaults: set them explicitly, or list them in notInTemplate with the reason", svc, missing)
			}
			// Each value passes the rule the service applies to it.
			l := config.NewLoader(config.FromMap(e))
			for k, method := range reads {
				switch method {
				case "Required":
					l.Required(k)
				case "URL":
					l.URL(k)
				case "Addr":
					l.Addr(k, "")
				case "Duration":
					l.Duration(k, 0, 0, 24*time.Hour)
				case "Int":
					l.Int(k, 0, 1, 1<<40)
				case "LogLevel":
					l.LogLevel(k)
				}
			}
			if err := l.Err(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRenderRefusesMissingAndUnknownValues(t *testing.T) {
	vars := varsFor(t, "api")
	delete(vars, "SQS_QUEUE_URL")
	vars["SQS_QUEUE"] = "x"
	_, err := Render("api", vars)
	if err == nil || !strings.Contains(err.Error(), "SQS_QUEUE_URL") || !strings.Contains(err.Error(), "SQS_QUEUE]") {
		t.Fatalf("got %v", err)
	}
	if _, err := Render("nope", nil); err == nil {
		t.Fatal("unknown service accepted")
	}
	vars = varsFor(t, "api")
	vars["SQS_QUEUE_URL"] = `a"b`
	b, err := Render("api", vars)
	if err != nil || !json.Valid(b) {
		t.Fatalf("a value with a quote broke the JSON: %v", err)
	}
}

// TestHealthCheckCommandAgainstTheRealBinaries starts each service binary
// with its template's environment (addresses moved to free ports, AWS to
// the emulator), then runs the template's health check command: 0 while
// the service serves, 1 against a port nothing listens on.
func TestHealthCheckCommandAgainstTheRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the service binaries")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bins, err := stack.FindOrBuild(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	em, err := stack.StartEmulator("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	name := "tmpl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	res, err := stack.Provision(ctx, stack.NewClients(em.URL), stack.Names{Queue: name, Bucket: name, Parameter: "/" + name + "/token"})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range Services {
		t.Run(svc, func(t *testing.T) {
			in := decode(t, svc)
			c := in.ContainerDefinitions[0]
			e := env(c)
			for k, v := range map[string]string{"SQS_QUEUE_URL": res.QueueURL, "S3_BUCKET_NAME": res.Bucket, "SSM_PARAMETER_NAME": res.Parameter} {
				if _, ok := e[k]; ok {
					e[k] = v
				}
			}
			// StartOnFreePort picks HTTP_ADDR and retries a port taken in
			// the meantime; the metrics listener needs no known port.
			if _, ok := e["METRICS_ADDR"]; ok {
				e["METRICS_ADDR"] = "127.0.0.1:0"
			}
			e["AWS_REGION"] = stack.Region
			e["AWS_ENDPOINT_URL"] = em.URL
			e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"] = "test", "test"
			bin := map[string]string{"api": bins.API, "consumer": bins.Consumer}[svc]
			if filepath.Base(c.HealthCheck.Command[1]) != filepath.Base(bin) {
				t.Fatalf("health check runs %s, the image's binary is /app/%s", c.HealthCheck.Command[1], filepath.Base(bin))
			}
			logs := &testkit.Buffer{}
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			defer wcancel()
			p, err := stack.StartOnFreePort(wctx, stack.ServiceSpec{Name: svc, Bin: bin, Env: e}, func() io.Writer { return logs })
			if err != nil {
				t.Fatalf("%s did not start with the template's environment: %v\n%s", svc, err, logs.String())
			}
			t.Cleanup(func() { _, _ = p.Stop(5 * time.Second) })
			e["HTTP_ADDR"] = p.Addr
			healthCmd := func(addr string) (int, string) {
				args := c.HealthCheck.Command[2:]
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr)
				out, err := cmd.CombinedOutput()
				if err != nil {
					if ee, ok := err.(*exec.ExitError); ok {
						return ee.ExitCode(), string(out)
					}
					t.Fatal(err)
				}
				return 0, string(out)
			}
			if code, out := healthCmd(e["HTTP_ADDR"]); code != 0 {
				t.Fatalf("health check of a serving %s: exit %d: %s", svc, code, out)
			}
			dead, err := stack.FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			if code, out := healthCmd(dead); code != 1 || !strings.Contains(out, "healthcheck:") {
				t.Fatalf("health check of a dead port: exit %d: %s", code, out)
			}
			// ECS sends SIGTERM and waits stopTimeout: the service must be
			// gone, cleanly, well inside it.
			code, err := p.Stop(time.Duration(aws.ToInt32(c.StopTimeout)) * time.Second)
			if err != nil || code != 0 {
				t.Fatalf("stop: exit %d, %v", code, err)
			}
		})
	}
}
