// Command ecsdeploy deploys the images `bazel run //images:push` pushed to
// their ECS services: it validates each digest in ECR, registers a new task
// definition revision with only that image changed, updates the service,
// waits for the rollout to be stable, runs the end-to-end check and, with
// --rollback-on-failure, puts every service back on its previous revision
// when anything fails. See docs/deploy.md.
//
//	bazel run //tools/ecsdeploy -- --cluster msgpipe-dev --rollback-on-failure \
//	    123456789012.dkr.ecr.eu-west-1.amazonaws.com/msgpipe/api@sha256:…
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	r := &cli.Runner{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv}
	code := r.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
