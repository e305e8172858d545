package ecrtoken_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtoken"
)

const password = "eyJwYXlsb2FkIjoic2VjcmV0In0"

type fakeAPI struct {
	out *ecr.GetAuthorizationTokenOutput
	err error
}

func (f fakeAPI) GetAuthorizationToken(context.Context, *ecr.GetAuthorizationTokenInput, ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	return f.out, f.err
}

func answer(token string, expires time.Time) *ecr.GetAuthorizationTokenOutput {
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
		AuthorizationToken: aws.String(token),
		ProxyEndpoint:      aws.String("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
		ExpiresAt:          aws.Time(expires),
	}}}
}

func encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestTokenDecodesUserAndPassword(t *testing.T) {
	exp := time.Now().Add(12 * time.Hour)
	s := &ecrtoken.Source{API: fakeAPI{out: answer(encode("AWS:"+password), exp)}}
	tok, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Username != "AWS" || tok.Password != password || !tok.ExpiresAt.Equal(exp) {
		t.Errorf("got user %q, password ok=%v, expires %v", tok.Username, tok.Password == password, tok.ExpiresAt)
	}
	host, err := tok.Registry()
	if err != nil || host != "123456789012.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Errorf("Registry() = %q, %v", host, err)
	}
}

func TestTokenNeverPrintsItsPassword(t *testing.T) {
	tok := ecrtoken.Token{Username: "AWS", Password: password, ProxyEndpoint: "https://r.example"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("token", "tok", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), logged.String()} {
		if strings.Contains(s, password) {
			t.Errorf("password printed: %s", s)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		api  fakeAPI
		want string
	}{
		{"api error", fakeAPI{err: errors.New("AccessDeniedException: not allowed")}, "ecr GetAuthorizationToken: AccessDeniedException"},
		{"no data", fakeAPI{out: &ecr.GetAuthorizationTokenOutput{}}, "no authorization data"},
		{"not base64", fakeAPI{out: answer("%%%"+password, exp)}, "not valid base64"},
		{"no colon", fakeAPI{out: answer(encode("AWS"+password), exp)}, `not of the form "user:password"`},
		{"expired", fakeAPI{out: answer(encode("AWS:"+password), time.Now().Add(-time.Minute))}, "token expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&ecrtoken.Source{API: tc.api}).Token(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://123.dkr.ecr.us-east-1.amazonaws.com": "123.dkr.ecr.us-east-1.amazonaws.com",
		"123.dkr.ecr.us-east-1.amazonaws.com":         "123.dkr.ecr.us-east-1.amazonaws.com",
		"http://127.0.0.1:5000/":                      "127.0.0.1:5000",
	} {
		if got, err := ecrtoken.RegistryHost(in); err != nil || got != want {
			t.Errorf("RegistryHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ecrtoken.RegistryHost("https://"); err == nil {
		t.Error("RegistryHost accepted an empty host")
	}
}

// TestSourceSpeaksECRWireProtocol runs the real SDK client against a local
// endpoint (what AWS_ENDPOINT_URL does in production tooling) to pin the
// request target and the JSON shape the decoder depends on.
func TestSourceSpeaksECRWireProtocol(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("X-Amz-Target"); got != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
			http.Error(w, "unexpected target "+got, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"}]}`,
			encode("AWS:"+password), time.Now().Add(12*time.Hour).Unix())
	}))
	defer srv.Close()
	cfg := aws.Config{
		Region: "eu-west-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		BaseEndpoint: aws.String(srv.URL),
	}
	tok, err := ecrtoken.New(cfg).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Password != password || tok.ProxyEndpoint != "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Errorf("got %v", tok)
	}
}
