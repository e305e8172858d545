package token

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/devops-exam/msgpipe/internal/kumotest"
)

func TestSSMSourceReadsASecureString(t *testing.T) {
	env := kumotest.Start(t)
	client := env.SSM
	ctx := context.Background()
	name := env.Parameter(t, "v-123")
	got, err := SSMSource{Client: client, Name: name}.Fetch(ctx)
	if err != nil || got != "v-123" {
		t.Fatalf("Fetch = %q, %v", got, err)
	}
	_, err = SSMSource{Client: client, Name: "/token-test/missing"}.Fetch(ctx)
	if err == nil || !strings.Contains(err.Error(), "/token-test/missing") {
		t.Fatalf("missing parameter: %v", err)
	}
}

type emptyGetter struct{}

func (emptyGetter) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return &ssm.GetParameterOutput{}, nil
}

func TestSSMSourceRejectsAResponseWithoutValue(t *testing.T) {
	if _, err := (SSMSource{Client: emptyGetter{}, Name: "/x"}).Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "no value") {
		t.Fatalf("got %v", err)
	}
}
