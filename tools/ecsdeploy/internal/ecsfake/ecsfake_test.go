package ecsfake

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

func start(t *testing.T) (*Server, *ecs.Client, *ecr.Client) {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
	return s, ecs.NewFromConfig(cfg), ecr.NewFromConfig(cfg)
}

const webTaskDef = `{"family":"web","networkMode":"awsvpc","cpu":"256","memory":"512",
 "requiresCompatibilities":["FARGATE"],
 "containerDefinitions":[{"name":"web","image":"r/web@sha256:1","essential":true}],
 "tags":[{"key":"team","value":"core"}]}`

func TestDeploymentCompletesOnTheTicksPlanned(t *testing.T) {
	s, c, _ := start(t)
	ctx := context.Background()
	arn, err := s.RegisterJSON(webTaskDef)
	if err != nil {
		t.Fatal(err)
	}
	s.AddService("main", "web", arn, 2)
	s.Plan("web", Outcome{Ticks: 2})

	reg, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("r/web@sha256:2")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(reg.TaskDefinition.TaskDefinitionArn); got != "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2" || reg.TaskDefinition.Revision != 2 {
		t.Fatalf("registered %s revision %d", got, reg.TaskDefinition.Revision)
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("main"), Service: aws.String("web"), TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}
	states := []ecstypes.DeploymentRolloutState{}
	for range 3 {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("main"), Services: []string{"web"}})
		if err != nil {
			t.Fatal(err)
		}
		primary := out.Services[0].Deployments[0]
		if aws.ToString(primary.Status) != "PRIMARY" || aws.ToString(primary.TaskDefinition) != aws.ToString(reg.TaskDefinition.TaskDefinitionArn) {
			t.Fatalf("primary deployment %+v", primary)
		}
		states = append(states, primary.RolloutState)
		s.Tick()
	}
	want := []ecstypes.DeploymentRolloutState{"IN_PROGRESS", "IN_PROGRESS", "COMPLETED"}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("rollout states %v, want %v", states, want)
		}
	}
}

func TestDeploymentFailsAsTheCircuitBreakerDoes(t *testing.T) {
	s, c, _ := start(t)
	ctx := context.Background()
	arn, _ := s.RegisterJSON(webTaskDef)
	s.AddService("main", "web", arn, 1)
	s.Plan("web", Outcome{Fail: true})
	arn2, _ := s.RegisterJSON(webTaskDef)
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("main"), Service: aws.String("web"), TaskDefinition: aws.String(arn2)}); err != nil {
		t.Fatal(err)
	}
	s.Tick()
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("main"), Services: []string{"web", "gone"}})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Services[0].Deployments[0]
	if d.RolloutState != ecstypes.DeploymentRolloutStateFailed || aws.ToString(d.RolloutStateReason) == "" || d.FailedTasks != 1 {
		t.Fatalf("deployment %+v", d)
	}
	if len(out.Services[0].Events) == 0 {
		t.Fatal("no service events")
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("failures %+v", out.Failures)
	}
}

func TestTaskDefinitionRoundTripsWithTagsAndRefusesReadOnlyFields(t *testing.T) {
	s, c, _ := start(t)
	ctx := context.Background()
	arn, _ := s.RegisterJSON(webTaskDef)
	out, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.TaskDefinition.Cpu) != "256" || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "core" || out.TaskDefinition.Status != ecstypes.TaskDefinitionStatusActive {
		t.Fatalf("described %+v tags %+v", out.TaskDefinition, out.Tags)
	}
	if _, err := s.RegisterJSON(`{"family":"web","revision":3,"containerDefinitions":[{"name":"x"}]}`); err == nil {
		t.Fatal("a read-only field was accepted")
	}
	_, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:9")})
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) {
		t.Fatalf("missing revision: %v", err)
	}
}

func TestFaultsAreServedThenCleared(t *testing.T) {
	s, c, _ := start(t)
	s.FailNext("ecs:DescribeServices", Fault{Code: "ThrottlingException", Message: "Rate exceeded"})
	_, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"x"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		t.Fatalf("want a ThrottlingException the SDK treats as throttling, got %v", err)
	}
	if _, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if got := s.CallCount("ecs:DescribeServices"); got != 2 {
		t.Fatalf("%d calls recorded", got)
	}
}

func TestECRImagesAndScans(t *testing.T) {
	s, _, c := start(t)
	ctx := context.Background()
	s.PutImage(Image{Repository: "msgpipe/api", Digest: "sha256:aa", Tags: []string{"v1"}, Manifest: `{"manifests":[]}`,
		Scan: &Scan{Status: "COMPLETE", Findings: map[string]int{"CRITICAL": 2}}})
	out, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("msgpipe/api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:aa")}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.ImageDetails[0].ImageScanFindingsSummary.FindingSeverityCounts["CRITICAL"]; n != 2 {
		t.Fatalf("critical findings %d", n)
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("msgpipe/api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:bb")}}})
	var nf *ecrtypes.ImageNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("missing digest: %v", err)
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("nope"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:aa")}}})
	var rnf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("missing repository: %v", err)
	}
	got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("msgpipe/api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String("sha256:aa")}, {ImageDigest: aws.String("sha256:cc")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Images) != 1 || aws.ToString(got.Images[0].ImageManifest) != `{"manifests":[]}` || len(got.Failures) != 1 {
		t.Fatalf("BatchGetImage %+v", got)
	}
}

func TestUnsignedRequestsAreRefused(t *testing.T) {
	s, _, _ := start(t)
	c := ecs.New(ecs.Options{Region: Region, BaseEndpoint: aws.String(s.URL), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
	_, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"x"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "MissingAuthenticationTokenException" {
		t.Fatalf("got %v", err)
	}
}
