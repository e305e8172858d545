// Command devstack runs the whole pipeline on this machine with no AWS
// account: the kumo emulator on 127.0.0.1:4566 with the queue, dead-letter
// queue, bucket and token parameter, and the real api and consumer binaries
// pointed at it. It is the README's first command; see docs/local-stack.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/devops-exam/msgpipe/tools/devstack/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
