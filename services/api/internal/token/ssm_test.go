package token

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/sivchari/kumo"
)

func TestSSMSourceReadsASecureString(t *testing.T) {
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	client := ssm.New(ssm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	ctx := context.Background()
	name := "/token-test/" + t.Name()
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v-123"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
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
