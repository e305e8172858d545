// Command e2e is the release check: it follows one message from the API
// through SQS and the consumer to S3 and back out, against real AWS or the
// local stack. See docs/e2e.md.
//
//	API_URL=... API_TOKEN=... S3_BUCKET_NAME=... go run ./e2e [--yes] [--timeout 60s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/devops-exam/msgpipe/e2e/check"
	"github.com/devops-exam/msgpipe/libs/awsconfig"
)

// Exit codes: a failed check, and a run that never started.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	yes := fs.Bool("yes", false, "run against real AWS without asking")
	timeout := fs.Duration("timeout", 0, "how long to wait for the object in S3 (default E2E_TIMEOUT or 60s)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	setupFailed := func(name string, err error) int {
		fmt.Fprintln(stderr, (&check.Failure{Step: "setup", Name: name, Reason: err}).Error())
		return exitUsage
	}
	settings, err := check.LoadSettings(os.LookupEnv)
	if err != nil {
		return setupFailed("configuration", err)
	}
	if *timeout > 0 {
		settings.Timeout = *timeout
	}
	if err := check.Confirm(settings, settings.AllLocal(os.LookupEnv), *yes, isTerminal(os.Stdin), stdin, stdout); err != nil {
		return setupFailed("confirmation", err)
	}
	cfg, err := awsconfig.Load(ctx, settings.Region)
	if err != nil {
		return setupFailed("AWS configuration", err)
	}
	_, err = check.Run(ctx, check.Config{
		APIURL:   settings.APIURL,
		Token:    settings.Token,
		Bucket:   settings.Bucket,
		QueueURL: settings.QueueURL,
		S3:       awsconfig.NewS3(cfg),
		SQS:      awsconfig.NewSQS(cfg),
		Timeout:  settings.Timeout,
		Out:      stdout,
	})
	if err != nil {
		return exitFailed
	}
	return 0
}
