package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/ecsfake"
)

func TestHappyPathDeploysBothServicesAndVerifies(t *testing.T) {
	w := newWorld(t, nil)
	w.fake.Plan("msgpipe-api", ecsfake.Outcome{Ticks: 3})
	w.fake.Plan("msgpipe-consumer", ecsfake.Outcome{Ticks: 2})
	w.expect(w.run(w.refs()...), ExitOK)
	for _, svc := range []string{"api", "consumer"} {
		if got := w.revision(svc); got != "msgpipe-test-"+svc+":2" {
			t.Errorf("%s runs %s, want revision 2", svc, got)
		}
	}
	if n := w.fake.CallCount("ecs:UpdateService"); n != 2 {
		t.Errorf("%d UpdateService calls, want 2", n)
	}
	w.contains(
		"[1/5] Validating images in ECR", "msgpipe-api: "+w.new["api"]+" found [linux/amd64 linux/arm64]",
		"[4/5] Waiting for stability",
		"msgpipe-api: msgpipe-test-api:2 IN_PROGRESS, running 1/2",
		"event: (service msgpipe-api) has reached a steady state.",
		"E2E TEST PASSED",
	)
	// Each event once, however many polls saw it.
	if n := strings.Count(w.out.String(), "(service msgpipe-api) has reached a steady state."); n != 1 {
		t.Errorf("steady-state event printed %d times", n)
	}
	want := "deploy succeeded: msgpipe-api msgpipe-test-api:1 → msgpipe-test-api:2 (" + w.new["api"][strings.Index(w.new["api"], "@")+1:][:19] +
		"), msgpipe-consumer msgpipe-test-consumer:1 → msgpipe-test-consumer:2 (" + w.new["consumer"][strings.Index(w.new["consumer"], "@")+1:][:19] +
		"); stable in 45s; verify passed"
	if got := w.lastLine(); got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
}

func TestRerunWithTheSameDigestsRegistersNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.expect(w.run(w.refs()...), ExitOK)
	registered := w.fake.CallCount("ecs:RegisterTaskDefinition")
	w.expect(w.run(w.refs()...), ExitOK)
	if n := w.fake.CallCount("ecs:RegisterTaskDefinition"); n != registered {
		t.Fatalf("the re-run registered %d more revisions", n-registered)
	}
	if n := w.fake.CallCount("ecs:UpdateService"); n != 2 {
		t.Fatalf("%d UpdateService calls over both runs, want 2", n)
	}
	w.contains("msgpipe-api: msgpipe-test-api:2 already runs "+digest("api-v2")+": no new revision", "Nothing changed")
	if got := w.lastLine(); !strings.HasPrefix(got, "deploy succeeded: msgpipe-api msgpipe-test-api:2 unchanged") || !strings.HasSuffix(got, "verify passed") {
		t.Fatalf("summary %q", got)
	}
}

func TestDigestMissingFromECRChangesNothing(t *testing.T) {
	w := newWorld(t, nil)
	missing := registry + "/msgpipe/api@" + digest("never-pushed")
	w.expect(w.run(missing, w.new["consumer"]), ExitImage)
	w.contains("api is not in ECR: no image " + digest("never-pushed") + " in repository msgpipe/api")
	assertUnchanged(t, w)
}

func assertUnchanged(t *testing.T, w *world) {
	t.Helper()
	for _, op := range []string{"ecs:RegisterTaskDefinition", "ecs:UpdateService"} {
		if n := w.fake.CallCount(op); n != 0 {
			t.Fatalf("%s called %d times: nothing may change", op, n)
		}
	}
	if !strings.HasPrefix(w.lastLine(), "deploy FAILED") && !strings.HasPrefix(w.lastLine(), "ecsdeploy:") {
		t.Fatalf("last line %q", w.lastLine())
	}
}

func TestTagInsteadOfDigestIsRefusedBeforeAnyCall(t *testing.T) {
	w := newWorld(t, nil)
	for _, ref := range []string{registry + "/msgpipe/api:v2", registry + "/msgpipe/api:v2@" + digest("api-v2"), registry + "/msgpipe/api"} {
		w.expect(w.run(ref), ExitUsage)
		w.contains("a deploy names an immutable digest")
	}
	if calls := w.fake.Calls(); len(calls) != 0 {
		t.Fatalf("AWS was called: %v", calls)
	}
}

func TestRequireScanRefusesCriticalFindings(t *testing.T) {
	w := newWorld(t, nil)
	bad := w.putIndex("msgpipe/api", "api-v3-vulnerable", 2)
	w.expect(w.run("--require-scan", bad), ExitImage)
	w.contains("refused by --require-scan", "2 CRITICAL finding(s)")
	assertUnchanged(t, w)

	// Without the flag the same image deploys: the scan gate is opt-in.
	w.expect(w.run("--verify=false", bad), ExitOK)
	// And a clean image passes the gate.
	w.expect(w.run("--require-scan", "--verify=false", w.new["consumer"]), ExitOK)
	w.contains("scan clean")
}

func TestRequireScanWaitsForARunningScan(t *testing.T) {
	w := newWorld(t, nil)
	fresh := registry + "/msgpipe/consumer@" + digest("consumer-fresh")
	for _, arch := range []string{"amd64", "arm64"} {
		w.fake.PutImage(ecsfake.Image{Repository: "msgpipe/consumer", Digest: digest("consumer-fresh/" + arch), Manifest: "{}",
			Scan: &ecsfake.Scan{Status: "COMPLETE", Findings: map[string]int{}, PendingTicks: 2}})
	}
	w.fake.PutImage(ecsfake.Image{Repository: "msgpipe/consumer", Digest: digest("consumer-fresh"), Manifest: `{"manifests":[` +
		`{"digest":"` + digest("consumer-fresh/amd64") + `","platform":{"os":"linux","architecture":"amd64"}},` +
		`{"digest":"` + digest("consumer-fresh/arm64") + `","platform":{"os":"linux","architecture":"arm64"}}]}`})
	w.expect(w.run("--require-scan", "--verify=false", fresh), ExitOK)
	if n := strings.Count(w.out.String(), "waiting for the ECR scan"); n != 2 {
		t.Fatalf("waited %d times, want 2:\n%s", n, w.out.String())
	}

	// A scan that never ends is refused at the timeout, before any change.
	w = newWorld(t, nil)
	w.fake.PutImage(ecsfake.Image{Repository: "msgpipe/consumer", Digest: digest("consumer-v2/arm64"), Manifest: "{}",
		Scan: &ecsfake.Scan{Status: "COMPLETE", PendingTicks: 1000}})
	w.expect(w.run("--require-scan", "--timeout", "1m", w.new["consumer"]), ExitImage)
	w.contains("scan still running after 1m0s")
	assertNoChange(t, w)
}

func TestIndexWithoutTheTaskPlatformIsRefused(t *testing.T) {
	w := newWorld(t, nil)
	amd64Only := w.putIndex("msgpipe/api", "api-amd64-only", 0, "amd64")
	w.expect(w.run(amd64Only), ExitImage)
	w.contains("runs ARM64 (linux/arm64) but the image index has only linux/amd64")
	assertUnchanged(t, w)
}

func TestCircuitBreakerFailureWithoutRollback(t *testing.T) {
	w := newWorld(t, nil)
	w.fake.Plan("msgpipe-api", ecsfake.Outcome{Ticks: 2, Fail: true})
	w.expect(w.run(w.refs()...), ExitFailed)
	w.contains(
		"ECS deployment circuit breaker: tasks failed to start.",
		"msgpipe-api stays on msgpipe-test-api:2; roll back by hand: aws ecs update-service --cluster msgpipe-test --service msgpipe-api --task-definition msgpipe-test-api:1",
	)
	if strings.Contains(w.out.String(), "E2E TEST") {
		t.Fatal("verified a failed rollout")
	}
	if got := w.revision("api"); got != "msgpipe-test-api:2" {
		t.Fatalf("api on %s: without --rollback-on-failure it stays on the new revision", got)
	}
	if !strings.HasPrefix(w.lastLine(), "deploy FAILED") || !strings.HasSuffix(w.lastLine(), "stable: not reached; verify not run") {
		t.Fatalf("summary %q", w.lastLine())
	}
}

func TestCircuitBreakerFailureWithRollback(t *testing.T) {
	w := newWorld(t, nil)
	w.fake.Plan("msgpipe-api", ecsfake.Outcome{Ticks: 2, Fail: true})
	w.expect(w.run("--rollback-on-failure", w.new["api"], w.new["consumer"]), ExitFailed)
	for _, svc := range []string{"api", "consumer"} {
		if got := w.revision(svc); got != "msgpipe-test-"+svc+":1" {
			t.Errorf("%s on %s after the rollback, want revision 1", svc, got)
		}
	}
	if n := w.fake.CallCount("ecs:UpdateService"); n != 4 {
		t.Errorf("%d UpdateService calls, want 2 forward and 2 back", n)
	}
	w.contains("[rollback] Putting 2 service(s) back", "msgpipe-test-api:1 COMPLETED, running 2/2", "rolled back: every service is stable")
	want := "deploy FAILED: msgpipe-api msgpipe-test-api:1 → msgpipe-test-api:2 → rolled back to msgpipe-test-api:1"
	if !strings.HasPrefix(w.lastLine(), want) {
		t.Fatalf("summary %q, want prefix %q", w.lastLine(), want)
	}
}

func TestRollbackThatFailsTooSaysActByHand(t *testing.T) {
	w := newWorld(t, nil)
	w.fake.Plan("msgpipe-api", ecsfake.Outcome{Fail: true}, ecsfake.Outcome{Fail: true})
	w.expect(w.run("--rollback-on-failure", w.new["api"]), ExitRollback)
	w.contains("then the rollback did not become stable")
}

func TestTimeout(t *testing.T) {
	w := newWorld(t, nil)
	w.fake.Plan("msgpipe-consumer", ecsfake.Outcome{Never: true})
	w.expect(w.run("--timeout", "2m", "--rollback-on-failure", w.new["consumer"]), ExitFailed)
	w.contains("not stable within --timeout 2m0s", "msgpipe-test-consumer:2 IN_PROGRESS, running 0/2")
	if got := w.revision("consumer"); got != "msgpipe-test-consumer:1" {
		t.Fatalf("consumer on %s after the rollback", got)
	}
}

func TestVerificationFailure(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(map[bool]string{false: "no rollback", true: "rollback"}[rollback], func(t *testing.T) {
			w := newWorld(t, nil)
			// The deployed API answers, but the check's token is wrong:
			// step 1 fails on a 401.
			w.env["API_TOKEN"] = "not-the-deployed-token"
			w.secrets = append(w.secrets, "not-the-deployed-token")
			args := w.refs()
			if rollback {
				args = append([]string{"--rollback-on-failure"}, args...)
			}
			w.expect(w.run(args...), ExitFailed)
			w.contains("E2E TEST FAILED at step 1", "verification failed")
			want := map[bool]string{false: "msgpipe-test-api:2", true: "msgpipe-test-api:1"}[rollback]
			if got := w.revision("api"); got != want {
				t.Fatalf("api on %s, want %s", got, want)
			}
			if !strings.HasSuffix(w.lastLine(), "verify FAILED") || !strings.Contains(w.lastLine(), "stable in") {
				t.Fatalf("summary %q", w.lastLine())
			}
		})
	}
}

// TestSidecarSecretsAndEnvironmentArePreserved compares, field for field
// at the wire level, the revision the tool registered with the one it read.
func TestSidecarSecretsAndEnvironmentArePreserved(t *testing.T) {
	sidecar := map[string]any{
		"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable", "essential": false,
		"memoryReservation": 50.0, "user": "0",
		"firelensConfiguration": map[string]any{"type": "fluentbit", "options": map[string]any{"enable-ecs-log-metadata": "true"}},
		"environment":           []any{map[string]any{"name": "FLB_LOG_LEVEL", "value": "info"}},
		"secrets":               []any{map[string]any{"name": "DD_API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/dd-api-key"}},
		"dependsOn":             []any{},
	}
	delete(sidecar, "dependsOn")
	w := newWorld(t, sidecar)
	w.expect(w.run("--verify=false", w.new["api"]), ExitOK)

	old, oldTags := w.fake.Registered("msgpipe-test-api", 1)
	got, gotTags := w.fake.Registered("msgpipe-test-api", 2)
	if got == nil {
		t.Fatal("nothing registered")
	}
	containers := old["containerDefinitions"].([]any)
	containers[0].(map[string]any)["image"] = w.new["api"]
	if !reflect.DeepEqual(got, old) {
		a, _ := json.MarshalIndent(old, "", " ")
		b, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("registered revision differs beyond the api image:\nwant %s\n got %s", a, b)
	}
	if !reflect.DeepEqual(gotTags, oldTags) || len(gotTags) == 0 {
		t.Fatalf("tags %v, want %v", gotTags, oldTags)
	}
	if got["containerDefinitions"].([]any)[1].(map[string]any)["image"] != sidecar["image"] {
		t.Fatal("the sidecar's image changed")
	}
}

func TestDryRunPrintsTheDiffAndChangesNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.expect(w.run("--dry-run", w.new["api"]), ExitOK)
	w.contains(
		"--- msgpipe-test-api:1\n+++ msgpipe-test-api:(new)",
		`-       "Image": "`+w.old["api"]+`",`,
		`+       "Image": "`+w.new["api"]+`",`,
		"Dry run: nothing registered, no service changed.",
	)
	if n := strings.Count(w.out.String(), "\n- "); n != 1 {
		t.Errorf("%d removed lines, want only the image:\n%s", n, w.out.String())
	}
	assertNoChange(t, w)
	if !strings.HasPrefix(w.lastLine(), "dry run: msgpipe-api msgpipe-test-api:1 → (new)") {
		t.Fatalf("summary %q", w.lastLine())
	}
}

func assertNoChange(t *testing.T, w *world) {
	t.Helper()
	for _, op := range []string{"ecs:RegisterTaskDefinition", "ecs:UpdateService"} {
		if n := w.fake.CallCount(op); n != 0 {
			t.Fatalf("%s called %d times", op, n)
		}
	}
}

func TestThrottlingIsRetriedBySDK(t *testing.T) {
	w := newWorld(t, nil)
	throttle := ecsfake.Fault{Code: "ThrottlingException", Message: "Rate exceeded"}
	w.fake.FailNext("ecs:DescribeServices", throttle, throttle)
	w.fake.FailNext("ecs:RegisterTaskDefinition", throttle)
	w.expect(w.run("--verify=false", w.new["api"]), ExitOK)
	// 2 throttled + 1 served to read, then the polls; 1 throttled + 1 served
	// to register: each throttled call was retried and succeeded.
	if n := w.fake.CallCount("ecs:RegisterTaskDefinition"); n != 2 {
		t.Fatalf("RegisterTaskDefinition called %d times, want 2 (one throttled, one retried)", n)
	}
	calls := w.fake.Calls()
	if calls[2] != "ecs:DescribeServices" || calls[3] != "ecs:DescribeServices" || calls[4] != "ecs:DescribeServices" || calls[5] != "ecs:DescribeTaskDefinition" {
		t.Fatalf("calls %v: want DescribeServices thrice (2 throttled) before DescribeTaskDefinition", calls)
	}
	if strings.Contains(w.out.String(), "Throttling") {
		t.Fatalf("a retried throttle reached the output:\n%s", w.out.String())
	}
}

func TestThrottlingBeyondTheRetriesIsReported(t *testing.T) {
	w := newWorld(t, nil)
	throttle := ecsfake.Fault{Code: "ThrottlingException", Message: "Rate exceeded"}
	w.fake.FailNext("ecr:DescribeImages", throttle, throttle, throttle, throttle)
	w.expect(w.run(w.new["api"]), ExitAWS)
	w.contains("ThrottlingException", "exceeded maximum number of attempts, 3")
	assertNoChange(t, w)
}

func TestCredentialsFailureSaysWhatToDo(t *testing.T) {
	t.Run("none found", func(t *testing.T) {
		w := newWorld(t, nil)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		w.expect(w.run("--verify=false", w.new["api"]), ExitAWS)
		w.contains("no AWS credentials found", "default credential chain", "AWS_PROFILE", "aws sts get-caller-identity")
		if calls := w.fake.Calls(); len(calls) != 0 {
			t.Fatalf("unsigned calls reached AWS: %v", calls)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		w := newWorld(t, nil)
		w.fake.FailNext("ecr:DescribeImages", ecsfake.Fault{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."})
		w.expect(w.run("--verify=false", w.new["api"]), ExitAWS)
		w.contains("AWS rejected the credentials", "default credential chain")
		assertNoChange(t, w)
	})
	denied := ecsfake.Fault{Code: "AccessDeniedException", Message: "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: ecs:UpdateService"}
	t.Run("permission missing before any service changed", func(t *testing.T) {
		w := newWorld(t, nil)
		w.fake.FailNext("ecs:UpdateService", denied)
		w.expect(w.run("--verify=false", w.new["api"]), ExitAWS)
		w.contains("the identity lacks a permission: docs/deploy-iam-policy.json")
		if !strings.Contains(w.lastLine(), "msgpipe-api msgpipe-test-api:1 (msgpipe-test-api:2 registered, not deployed)") {
			t.Fatalf("summary %q", w.lastLine())
		}
	})
	t.Run("permission missing after a service changed", func(t *testing.T) {
		w := newWorld(t, nil)
		w.fake.FailNext("ecs:UpdateService", ecsfake.Fault{}, denied)
		w.expect(w.run("--verify=false", w.new["api"], w.new["consumer"]), ExitRollback)
		w.contains("msgpipe-api stays on msgpipe-test-api:2; roll back by hand")
	})
	t.Run("permission missing after a service changed, rolled back", func(t *testing.T) {
		w := newWorld(t, nil)
		w.fake.FailNext("ecs:UpdateService", ecsfake.Fault{}, denied)
		w.expect(w.run("--verify=false", "--rollback-on-failure", w.new["api"], w.new["consumer"]), ExitFailed)
		if got := w.revision("api"); got != "msgpipe-test-api:1" {
			t.Fatalf("api on %s", got)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	w := newWorld(t, nil)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no images"},
		{[]string{"--service", "web=x", w.new["api"]}, "not deployed: web"},
		{[]string{w.new["api"], w.new["api"]}, "two images for api"},
		{[]string{"--timeout", "0s", w.new["api"]}, "must be positive"},
		{[]string{"not-a-ref"}, "want <registry>/<repository>@sha256:<digest>"},
		{[]string{registry + "/msgpipe/api@sha256:abc"}, "64 lower-case hex"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		w.expect(w.run(c.args...), ExitUsage)
		w.contains(c.want)
	}
	delete(w.env, "API_URL")
	w.expect(w.run(w.new["api"]), ExitUsage)
	w.contains("verification needs --api-url")
	w.env["ECS_CLUSTER"] = ""
	w.expect(w.run("--verify=false", w.new["api"]), ExitUsage)
	w.contains("no cluster")
	if calls := w.fake.Calls(); len(calls) != 0 {
		t.Fatalf("AWS was called: %v", calls)
	}
}

func TestAPIURLFromALBDNS(t *testing.T) {
	w := newWorld(t, nil)
	w.env["ALB_DNS"] = strings.TrimPrefix(w.env["API_URL"], "http://")
	delete(w.env, "API_URL")
	w.expect(w.run(w.new["api"]), ExitOK)
	w.contains("E2E TEST PASSED")
}

func TestUnreadableTokenStopsBeforeAnyChange(t *testing.T) {
	w := newWorld(t, nil)
	w.env["SSM_PARAMETER_NAME"] = "/msgpipe/nowhere/api-token"
	w.expect(w.run(w.new["api"]), ExitAWS)
	w.contains("ssm:GetParameter /msgpipe/nowhere/api-token (the API token for verification)")
	if w.lastLine() != notStarted {
		t.Fatalf("last line %q", w.lastLine())
	}
	if calls := w.fake.Calls(); len(calls) != 0 {
		t.Fatalf("ECS or ECR was called: %v", calls)
	}
}

func TestMissingServiceAndContainer(t *testing.T) {
	w := newWorld(t, nil)
	w.expect(w.run("--verify=false", "--service", "api=msgpipe-gone", w.new["api"]), ExitAWS)
	w.contains("services not found in cluster msgpipe-test", "msgpipe-gone (MISSING)")
	w.expect(w.run("--verify=false", "--container", "api=web", w.new["api"]), ExitUsage)
	w.contains(`has no container "web" (it has: api)`)
	assertNoChange(t, w)
}

func TestImagesFromAFileOrStdin(t *testing.T) {
	w := newWorld(t, nil)
	file := filepath.Join(t.TempDir(), "pushed.txt")
	if err := os.WriteFile(file, []byte("# //images:push\n"+strings.Join(w.refs(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.expect(w.run("--dry-run", "--images", file), ExitOK)
	w.contains("msgpipe-api msgpipe-test-api:1 → (new)", "msgpipe-consumer msgpipe-test-consumer:1 → (new)")
	w.expect(w.run("--images", filepath.Join(t.TempDir(), "none")), ExitUsage)
	w.stdin = w.new["consumer"] + "\n"
	w.expect(w.run("--dry-run", "--images", "-"), ExitOK)
	w.contains("msgpipe-consumer msgpipe-test-consumer:1 → (new)")
	w.env["BUILD_WORKING_DIRECTORY"] = filepath.Dir(file)
	w.expect(w.run("--dry-run", "--images", filepath.Base(file)), ExitOK)
}
