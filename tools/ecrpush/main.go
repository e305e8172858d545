// Command ecrpush pushes the services' multi-platform image indexes from
// OCI layouts to Amazon ECR, authenticating with ecr:GetAuthorizationToken
// through the default AWS credential chain; it is what
// `bazel run //images:push` runs. See docs/ecr-push.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/cli"
	"github.com/devops-exam/msgpipe/tools/ecrpush/internal/ecrtoken"
)

// gitSHA is set at link time by Bazel's release stamping
// (x_defs = {"main.gitSHA": "{STABLE_GIT_SHA}"}); unstamped builds leave it
// empty or unexpanded, and then only explicit tags apply.
var gitSHA string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	r := &cli.Runner{
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		LookupEnv:      os.LookupEnv,
		GitSHA:         gitSHA,
		NewTokenSource: newTokenSource,
	}
	code := r.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func newTokenSource(ctx context.Context) (cli.TokenSource, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return ecrtoken.New(cfg), nil
}
