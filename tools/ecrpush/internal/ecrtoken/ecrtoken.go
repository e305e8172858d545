// Package ecrtoken turns ECR's GetAuthorizationToken answer into registry
// credentials, so the pusher needs neither a Docker daemon nor a credential
// helper binary.
package ecrtoken

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// Token is a registry login issued by ECR. Its String, GoString and
// LogValue methods omit the password so that printing a Token by accident
// does not leak it.
type Token struct {
	// Username is the registry user, "AWS" for ECR.
	Username string
	// Password is the short-lived registry password. Never print it.
	Password string
	// ProxyEndpoint is the registry URL the token is for, e.g.
	// https://123456789012.dkr.ecr.eu-west-1.amazonaws.com.
	ProxyEndpoint string
	// ExpiresAt is when ECR stops accepting the password (12 hours after issue).
	ExpiresAt time.Time
}

// String describes the token without its password.
func (t Token) String() string {
	return fmt.Sprintf("ecr token for %s (user %s, expires %s)", t.ProxyEndpoint, t.Username, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps the password out of %#v as well.
func (t Token) GoString() string { return t.String() }

// LogValue keeps the password out of slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("proxy_endpoint", t.ProxyEndpoint),
		slog.String("username", t.Username),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// Registry returns the host[:port] of ProxyEndpoint, the form image
// references use.
func (t Token) Registry() (string, error) {
	return RegistryHost(t.ProxyEndpoint)
}

// RegistryHost strips the scheme and any path from an ECR proxy endpoint.
// A bare host is returned unchanged.
func RegistryHost(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("registry endpoint %q is not a host or URL", endpoint)
	}
	return u.Host, nil
}

// API is the one ECR call Source needs; *ecr.Client satisfies it.
type API interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// Source fetches tokens with ecr:GetAuthorizationToken.
type Source struct {
	API API
	// Now is the clock used to reject already-expired tokens; nil means time.Now.
	Now func() time.Time
}

// New builds a Source from an AWS config, typically from
// config.LoadDefaultConfig (which honours AWS_REGION, AWS_PROFILE and
// AWS_ENDPOINT_URL on its own).
func New(cfg aws.Config) *Source {
	return &Source{API: ecr.NewFromConfig(cfg)}
}

// Token asks ECR for a fresh token. ECR tokens are valid for every registry
// the caller may access, so no registry id is sent (the parameter is
// deprecated).
func (s *Source) Token(ctx context.Context) (Token, error) {
	out, err := s.API.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return Token{}, errors.New("ecr GetAuthorizationToken: answer holds no authorization data")
	}
	d := out.AuthorizationData[0]
	user, pass, err := Decode(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return Token{}, err
	}
	tok := Token{
		Username:      user,
		Password:      pass,
		ProxyEndpoint: aws.ToString(d.ProxyEndpoint),
		ExpiresAt:     aws.ToTime(d.ExpiresAt),
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if !tok.ExpiresAt.IsZero() && !tok.ExpiresAt.After(now()) {
		return Token{}, fmt.Errorf("ecr GetAuthorizationToken: token expired at %s (is the clock right?)", tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return tok, nil
}

// Decode splits ECR's base64 "user:password" token. Errors never quote the
// token, since even a malformed one may hold most of a password.
func Decode(token string) (username, password string, err error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", errors.New("ecr authorization token is not valid base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return "", "", errors.New(`ecr authorization token is not of the form "user:password"`)
	}
	return user, pass, nil
}
