package token

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ParameterGetter is the one SSM call the cache needs.
type ParameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SSMSource reads the token from a (SecureString) parameter.
type SSMSource struct {
	Client ParameterGetter
	Name   string
}

// Fetch returns the decrypted parameter value.
func (s SSMSource) Fetch(ctx context.Context) (string, error) {
	out, err := s.Client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.Name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("get SSM parameter %s: %w", s.Name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("get SSM parameter %s: no value", s.Name)
	}
	return *out.Parameter.Value, nil
}
