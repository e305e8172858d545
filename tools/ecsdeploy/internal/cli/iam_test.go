package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	ecstemplate "github.com/devops-exam/msgpipe/deploy/ecs"
	"github.com/devops-exam/msgpipe/e2e/check"
	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/deploy"
	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/ecsfake"
)

const policyPath = "../../../../docs/deploy-iam-policy.json"

type statement struct {
	Sid       string
	Effect    string
	Action    any // string or []string
	Resource  any
	Condition map[string]map[string]string
}

func strs(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func readPolicy(t *testing.T) []statement {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(policyPath))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []statement
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", policyPath, err)
	}
	if doc.Version != "2012-10-17" {
		t.Fatalf("policy version %q", doc.Version)
	}
	return doc.Statement
}

// iamAction is the IAM action that authorizes an SDK operation. Only S3's
// ListObjectsV2 has another name.
func iamAction(serviceID, op string) string {
	if serviceID == "S3" && op == "ListObjectsV2" {
		return "s3:ListBucket"
	}
	return strings.ToLower(serviceID) + ":" + op
}

// interfaceActions are the calls the tool can make, from the interfaces
// its AWS clients are used through.
func interfaceActions() map[string]bool {
	out := map[string]bool{}
	for svc, iface := range map[string]reflect.Type{
		"ECS": reflect.TypeFor[deploy.ECS](),
		"ECR": reflect.TypeFor[deploy.ECR](),
		"SSM": reflect.TypeFor[SSM](),
		"S3":  reflect.TypeFor[check.S3API](),
	} {
		for i := range iface.NumMethod() {
			out[iamAction(svc, iface.Method(i).Name)] = true
		}
	}
	return out
}

// record adds a middleware to every client that notes each operation the
// SDK starts, before signing or sending.
func record(w *world) func() map[string]bool {
	var mu sync.Mutex
	seen := map[string]bool{}
	w.apiOptions = append(w.apiOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("recordOperation",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				seen[iamAction(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))] = true
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
	return func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]bool{}
		for k := range seen {
			out[k] = true
		}
		return out
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPolicyNamesExactlyTheCallsTheToolMakes records the operations of a
// deploy that uses every feature (scan gate, token from SSM, verification,
// a rollback) and compares them with the policy: nothing missing, nothing
// extra. iam:PassRole and ecs:TagResource are not calls of their own but
// what ECS checks when RegisterTaskDefinition names roles and tags.
func TestPolicyNamesExactlyTheCallsTheToolMakes(t *testing.T) {
	w := newWorld(t, nil)
	made := record(w)
	w.expect(w.run("--require-scan", w.new["api"], w.new["consumer"]), ExitOK)
	w2 := newWorld(t, nil)
	w2.apiOptions = w.apiOptions
	w2.fake.Plan("msgpipe-api", ecsfake.Outcome{Fail: true})
	w2.expect(w2.run("--rollback-on-failure", "--verify=false", w2.new["api"]), ExitFailed)

	recorded := made()
	if want := interfaceActions(); !reflect.DeepEqual(recorded, want) {
		t.Fatalf("the runs made %v; the tool's interfaces allow %v: cover every call", keys(recorded), keys(want))
	}

	registered, tags := w.fake.Registered("msgpipe-test-api", 2)
	needed := map[string]bool{}
	for k := range recorded {
		needed[k] = true
	}
	if registered["taskRoleArn"] != nil || registered["executionRoleArn"] != nil {
		needed["iam:PassRole"] = true
	}
	if len(tags) > 0 {
		needed["ecs:TagResource"] = true
	}

	granted := map[string]bool{}
	for _, st := range readPolicy(t) {
		if st.Effect != "Allow" {
			t.Errorf("statement %s: effect %q", st.Sid, st.Effect)
		}
		for _, a := range strs(st.Action) {
			if strings.Contains(a, "*") {
				t.Errorf("statement %s grants the wildcard %s", st.Sid, a)
			}
			granted[a] = true
		}
	}
	if !reflect.DeepEqual(granted, needed) {
		t.Fatalf("the policy grants %v;\nthe tool needs exactly %v", keys(granted), keys(needed))
	}
}

// TestPassRoleIsScopedToTheTaskAndExecutionRoles: the roles the templates
// name, passed only to ECS tasks.
func TestPassRoleIsScopedToTheTaskAndExecutionRoles(t *testing.T) {
	want := map[string]bool{}
	for _, svc := range ecstemplate.Services {
		names, _ := ecstemplate.Placeholders(svc)
		vars := map[string]string{}
		for _, n := range names {
			vars[n] = "x"
		}
		vars["ENVIRONMENT"], vars["ACCOUNT_ID"] = "dev", "123456789012"
		b, err := ecstemplate.Render(svc, vars)
		if err != nil {
			t.Fatal(err)
		}
		var td struct{ TaskRoleArn, ExecutionRoleArn string }
		if err := json.Unmarshal(b, &td); err != nil {
			t.Fatal(err)
		}
		want[td.TaskRoleArn], want[td.ExecutionRoleArn] = true, true
	}
	for _, st := range readPolicy(t) {
		if !reflect.DeepEqual(strs(st.Action), []string{"iam:PassRole"}) {
			if strings.Contains(strings.Join(strs(st.Action), " "), "iam:") {
				t.Fatalf("statement %s mixes iam actions with others", st.Sid)
			}
			continue
		}
		got := map[string]bool{}
		for _, r := range strs(st.Resource) {
			got[r] = true
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("iam:PassRole on %v, want exactly the templates' roles %v", keys(got), keys(want))
		}
		if st.Condition["StringEquals"]["iam:PassedToService"] != "ecs-tasks.amazonaws.com" {
			t.Fatalf("iam:PassRole without the iam:PassedToService condition: %+v", st.Condition)
		}
		return
	}
	t.Fatal("no iam:PassRole statement")
}
