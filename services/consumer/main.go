// Command consumer moves messages from SQS to S3. It only wires: the
// behaviour lives in internal/. Its environment is documented in
// docs/consumer.md; a configuration error exits 2 with every problem named.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/devops-exam/msgpipe/libs/awsconfig"
	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/gcpolicy"
	"github.com/devops-exam/msgpipe/libs/healthcheck"
	"github.com/devops-exam/msgpipe/libs/httpserver"
	"github.com/devops-exam/msgpipe/libs/logging"
	"github.com/devops-exam/msgpipe/libs/metrics"
	"github.com/devops-exam/msgpipe/services/consumer/internal/config"
	"github.com/devops-exam/msgpipe/services/consumer/internal/consumer"
	"github.com/devops-exam/msgpipe/services/consumer/internal/deleter"
	"github.com/devops-exam/msgpipe/services/consumer/internal/queuestats"
	"github.com/devops-exam/msgpipe/services/consumer/internal/store"
)

// service names the process on every log line.
const service = "consumer"

// Once the workers are done, the deletes they queued and the HTTP server
// get this long. With the default SHUTDOWN_TIMEOUT of 25 s the whole stop
// stays inside ECS's 30 s grace period.
const (
	finalFlushTimeout = 3 * time.Second
	httpDrainTimeout  = 2 * time.Second
)

// newRegistry is a variable so that the metrics test can keep the registry
// run builds and list every family in it.
var newRegistry = metrics.NewRegistry

func main() {
	// The ECS container health check (distroless has no shell or curl).
	if healthcheck.Requested(os.Args[1:]) {
		os.Exit(healthcheck.Run(os.LookupEnv, config.DefaultHTTPAddr, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		// After the first signal, a second one kills at once, as the
		// operator pressing Ctrl-C twice expects.
		<-ctx.Done()
		stop()
	}()
	os.Exit(exitCode(run(ctx, os.LookupEnv, os.Stdout, os.Stderr)))
}

// exitCode maps run's result to the process status: 0 after a clean stop,
// config.ExitCode for a configuration error, 1 for anything else.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case libconfig.IsConfigError(err):
		return libconfig.ExitCode
	default:
		return 1
	}
}

// run starts the consumer and blocks until ctx is done and it has stopped.
// A configuration error is written to stderr as one message; every later
// error is logged as JSON to stdout. Both are returned.
func run(ctx context.Context, lookup libconfig.LookupFunc, stdout, stderr io.Writer) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return err
	}
	gogc := gcpolicy.Apply(lookup)
	// Lines are written in batches, not one system call each; Close on
	// the way out writes the last of them.
	logOut := logging.NewBuffer(stdout, logging.FlushInterval, logging.BufferMaxBytes)
	defer logOut.Close()
	logger := logging.New(logOut, cfg.LogLevel, service)
	fail := func(err error) error {
		logger.Error("consumer failed", "error", err)
		return err
	}

	reg := newRegistry()
	metrics.RegisterBuildInfo(reg, consumer.Namespace, metrics.BuildInfo())
	// A connection for every worker's put and every receive loop's long
	// poll, plus a few for deletes and visibility changes, kept open and
	// reused rather than re-dialled.
	awsCfg, err := awsconfig.Load(ctx, cfg.Region,
		awsconfig.WithMaxConnsPerHost(cfg.WorkerConcurrency+cfg.ReceiveConcurrency+4),
		awsconfig.WithLogger(logger), awsconfig.CountRequests(reg, consumer.Namespace))
	if err != nil {
		return fail(err)
	}
	sqsClient := awsconfig.NewSQS(awsCfg)
	s3Client := awsconfig.NewS3(awsCfg)

	m := consumer.NewMetrics(reg)
	httpm := metrics.NewHTTP(reg, consumer.Namespace)
	ln, err := httpserver.Listen(cfg.HTTPAddr)
	if err != nil {
		return fail(err)
	}

	del := deleter.New(sqsClient, cfg.QueueURL, deleter.Options{
		FlushInterval: cfg.DeleteFlushInterval,
		Logger:        logger,
		Deleted:       m.Deletes,
		Failed:        m.Failed.WithLabelValues(consumer.ReasonDelete),
	})
	c := consumer.New(sqsClient,
		store.New(s3Client, cfg.Bucket, store.Encryption{Mode: cfg.SSE, KMSKeyID: cfg.KMSKeyID}),
		del, consumer.Options{
			QueueURL:          cfg.QueueURL,
			PollInterval:      cfg.PollInterval,
			Concurrency:       cfg.WorkerConcurrency,
			Receivers:         cfg.ReceiveConcurrency,
			VisibilityTimeout: cfg.VisibilityTimeout,
			ShutdownTimeout:   cfg.ShutdownTimeout,
			Logger:            logger,
			Metrics:           m,
		})
	// /health fails when the consumer is wedged (no receive completing, or
	// every worker stuck), so that ECS replaces the task.
	mux := http.NewServeMux()
	mux.Handle("GET /health", httpm.Instrument("health", http.HandlerFunc(c.HealthHandler)))
	mux.Handle("GET /metrics", httpm.Instrument("metrics", metrics.Handler(reg)))

	stats := queuestats.New(sqsClient, cfg.QueueURL, queuestats.NewMetrics(reg, consumer.Namespace),
		queuestats.Options{Interval: cfg.QueueMetricsInterval, Logger: logger})

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	httpDone := make(chan error, 1)
	go func() {
		httpDone <- httpserver.Serve(httpCtx, httpserver.New(mux, logger), ln, httpDrainTimeout)
	}()
	go del.Run()

	logger.Info("consumer started",
		"queue", cfg.QueueURL, "bucket", cfg.Bucket, "http_addr", ln.Addr().String(),
		"workers", cfg.WorkerConcurrency, "receivers", cfg.ReceiveConcurrency, "poll_interval", cfg.PollInterval.String(),
		"visibility_timeout", cfg.VisibilityTimeout.String(), "gogc", gogc)

	// A server that dies takes the consumer down with it: a task whose
	// health check cannot answer would be killed by ECS mid-message anyway.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var httpErr error
	httpEnded := false
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case httpErr = <-httpDone:
			httpEnded = true
			stopRun()
		case <-runCtx.Done():
		}
	}()

	// Queue depth sampling runs beside the consumer and never stops it.
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		stats.Run(runCtx)
	}()

	err = c.Run(runCtx)
	stopRun()
	<-statsDone
	<-watched
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	del.Close(flushCtx)
	cancelFlush()
	stopHTTP()
	if !httpEnded {
		httpErr = <-httpDone
	}
	if err := errors.Join(err, httpErr); err != nil {
		return fail(err)
	}
	logger.Info("consumer stopped")
	return nil
}
