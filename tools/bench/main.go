// Command bench runs the pipeline benchmarks recorded in docs/benchmarks.md
// through the real service binaries against the in-process emulator, with
// optional AWS-like latency, and draws their chart. It is a manual tool:
// speed is recorded, never asserted in tests.
//
//	go run ./tools/bench api   -clients 64 -duration 10s
//	go run ./tools/bench drain -messages 2000 -runs 40
//	go run ./tools/bench drain -sqs-latency 5ms -s3-latency 25ms -env WORKER_CONCURRENCY=10,50,100
//	go run ./tools/bench chart -in docs/benchmarks/results.jsonl -out docs/benchmarks/throughput.png
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/devops-exam/msgpipe/tools/bench/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
