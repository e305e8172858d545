package deploy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

var sha = "sha256:" + strings.Repeat("ab", 32)

func TestParseImageRef(t *testing.T) {
	good := "123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@" + sha
	r, err := ParseImageRef(" " + good + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != good || r.Name() != "api" || r.RegistryID() != "123456789012" || r.Repository != "msgpipe/api" || r.ShortDigest() != "sha256:abababababab" {
		t.Fatalf("%+v", r)
	}
	if r, err := ParseImageRef("localhost:5000/api@" + sha); err != nil || r.RegistryID() != "" || r.Name() != "api" {
		t.Fatalf("%+v %v", r, err)
	}
	for in, want := range map[string]string{
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api:v1.2.3":    `names the tag "v1.2.3"`,
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api:v1@" + sha: `names the tag "v1"`,
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api":           "has no digest",
		"msgpipe/api@" + sha: "want <registry>/<repository>@sha256:<digest>",
		"api@" + sha:         "want <registry>/<repository>@sha256:<digest>",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@sha256:ABC": "64 lower-case hex",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@md5:" + sha: "64 lower-case hex",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/Msgpipe/API@" + sha:     "not a valid registry/repository",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe//api@" + sha:    "not a valid registry/repository",
	} {
		_, err := ParseImageRef(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseImageRef(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

// fill sets every settable field of v to a non-zero value, recursively,
// so a field Render forgets to copy shows up as a difference.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 3 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth)
			}
		}
	case reflect.Slice:
		if depth > 3 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Interface:
		// union types: left nil
	}
}

// TestRenderCarriesEveryWritableField fails when the SDK gains a task
// definition field that Render neither copies nor lists as read-only.
func TestRenderCarriesEveryWritableField(t *testing.T) {
	var td ecstypes.TaskDefinition
	fill(reflect.ValueOf(&td).Elem(), 0)
	td.ContainerDefinitions = append(td.ContainerDefinitions, ecstypes.ContainerDefinition{Name: aws.String("sidecar"), Image: aws.String("side:1")})
	td.ContainerDefinitions[0].Name = aws.String("app")
	tags := []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}}
	in, changed, err := Render(&td, tags, "app", "new-image")
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	if aws.ToString(td.ContainerDefinitions[0].Image) == "new-image" {
		t.Fatal("Render changed the task definition it read (the rollback target)")
	}
	src := reflect.ValueOf(td)
	dst := reflect.ValueOf(*in)
	for i := range src.NumField() {
		f := src.Type().Field(i)
		if !f.IsExported() || slices.Contains(ReadOnlyFields, f.Name) {
			continue
		}
		d := dst.FieldByName(f.Name)
		if !d.IsValid() {
			t.Errorf("TaskDefinition.%s has no RegisterTaskDefinitionInput field: add it to ReadOnlyFields if ECS sets it", f.Name)
			continue
		}
		if f.Name == "ContainerDefinitions" {
			continue
		}
		if !reflect.DeepEqual(src.Field(i).Interface(), d.Interface()) {
			t.Errorf("%s not carried over", f.Name)
		}
	}
	for _, ro := range ReadOnlyFields {
		if _, ok := src.Type().FieldByName(ro); !ok {
			t.Errorf("ReadOnlyFields names %s, which TaskDefinition lacks", ro)
		}
	}
	want := append([]ecstypes.ContainerDefinition(nil), td.ContainerDefinitions...)
	want[0].Image = aws.String("new-image")
	if !reflect.DeepEqual(in.ContainerDefinitions, want) {
		t.Error("containers differ beyond the one image")
	}
	if !reflect.DeepEqual(in.Tags, tags) {
		t.Errorf("tags %v", in.Tags)
	}
	// Every input field has a source, or is Tags.
	for i := range dst.NumField() {
		f := dst.Type().Field(i)
		if _, ok := src.Type().FieldByName(f.Name); !ok && f.IsExported() && f.Name != "Tags" {
			t.Errorf("RegisterTaskDefinitionInput.%s has no source in TaskDefinition", f.Name)
		}
	}
}

func TestRenderUnchangedAndMissingContainer(t *testing.T) {
	td := &ecstypes.TaskDefinition{TaskDefinitionArn: aws.String("arn:x:task-definition/f:3"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("api"), Image: aws.String("img@" + sha)}}}
	if _, changed, err := Render(td, nil, "api", "img@"+sha); err != nil || changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	_, _, err := Render(td, nil, "web", "x")
	if err == nil || !strings.Contains(err.Error(), `no container "web" (it has: api)`) {
		t.Fatalf("got %v", err)
	}
}

func TestCheckPlatform(t *testing.T) {
	arm := &ecstypes.TaskDefinition{RuntimePlatform: &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitectureArm64}}
	if err := checkPlatform(arm, []string{"linux/amd64", "linux/arm64"}); err != nil {
		t.Fatal(err)
	}
	if err := checkPlatform(arm, []string{"linux/amd64"}); err == nil {
		t.Fatal("an amd64-only index passed for an ARM64 task")
	}
	if err := checkPlatform(&ecstypes.TaskDefinition{}, []string{"linux/amd64"}); err != nil {
		t.Fatal("no runtime platform means x86_64 on Fargate, not checked here:", err)
	}
}

func TestWriteDiff(t *testing.T) {
	var b strings.Builder
	a := strings.Split("1 2 3 4 5 6 7 8 9 10 11 12", " ")
	c := slices.Clone(a)
	c[1], c[10] = "two", "eleven"
	writeDiff(&b, "old", "new", a, c, 1)
	want := "--- old\n+++ new\n  1\n- 2\n+ two\n  3\n  …\n  10\n- 11\n+ eleven\n  12\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestViewDropsEmptyMembers(t *testing.T) {
	got := strings.Join(view(&ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), Cpu: aws.String("")}), "\n")
	if got != "{\n  \"Family\": \"f\"\n}" {
		t.Fatalf("got %s", got)
	}
}

func TestHint(t *testing.T) {
	for err, want := range map[error]string{
		&smithy.GenericAPIError{Code: "ExpiredTokenException"}:                        "AWS rejected the credentials",
		&smithy.GenericAPIError{Code: "AccessDeniedException"}:                        "deploy-iam-policy.json",
		&smithy.GenericAPIError{Code: "ClientException"}:                              "",
		errors.New("failed to retrieve credentials: no EC2 IMDS role found"):          "no AWS credentials found",
		fmt.Errorf("x: %w", errors.New("failed to refresh cached credentials, boom")): "no AWS credentials found",
		errors.New("dial tcp: connection refused"):                                    "",
	} {
		got := Hint(err)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("Hint(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestIndent(t *testing.T) {
	var b strings.Builder
	w := &indent{w: &b, at: true}
	fmt.Fprint(w, "a\n\nb")
	fmt.Fprint(w, "c\nd\n")
	if b.String() != "      a\n\n      bc\n      d\n" {
		t.Fatalf("%q", b.String())
	}
}

func TestRealClockSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (RealClock{}).Sleep(ctx, time.Hour); err == nil {
		t.Fatal("slept through a cancelled context")
	}
	if err := (RealClock{}).Sleep(context.Background(), time.Nanosecond); err != nil {
		t.Fatal(err)
	}
}
