// Command api is the pipeline's HTTP front door: it checks a client's token
// against SSM Parameter Store, validates the message and publishes it to
// SQS. See the README for its configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/devops-exam/msgpipe/libs/awsconfig"
	libconfig "github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/gcpolicy"
	"github.com/devops-exam/msgpipe/libs/healthcheck"
	"github.com/devops-exam/msgpipe/libs/httpserver"
	"github.com/devops-exam/msgpipe/libs/logging"
	"github.com/devops-exam/msgpipe/libs/metrics"
	"github.com/devops-exam/msgpipe/services/api/internal/config"
	"github.com/devops-exam/msgpipe/services/api/internal/handler"
	"github.com/devops-exam/msgpipe/services/api/internal/publish"
	"github.com/devops-exam/msgpipe/services/api/internal/token"
)

const metricsNamespace = "msgpipe_api"

// newRegistry is a variable so that the metrics test can keep the registry
// run builds and list every family in it.
var newRegistry = metrics.NewRegistry

func main() {
	// The ECS container health check (distroless has no shell or curl).
	if healthcheck.Requested(os.Args[1:]) {
		os.Exit(healthcheck.Run(os.LookupEnv, config.DefaultHTTPAddr, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.LookupEnv, os.Stdout, os.Stderr))
}

// run wires the service and blocks until ctx is done (SIGTERM) or a server
// fails. It returns the process exit status.
func run(ctx context.Context, lookup libconfig.LookupFunc, stdout, stderr io.Writer) int {
	cfg, err := config.Load(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "api: %v\n", err)
		return libconfig.ExitCode
	}
	gogc := gcpolicy.Apply(lookup)
	// Lines are written in batches, not one system call each; Close on
	// the way out writes the last of them.
	logOut := logging.NewBuffer(stdout, logging.FlushInterval, logging.BufferMaxBytes)
	defer logOut.Close()
	log := logging.New(logOut, cfg.LogLevel, "api")

	reg := newRegistry()
	metrics.RegisterBuildInfo(reg, metricsNamespace, metrics.BuildInfo())
	// One connection per batch call in flight, plus one for SSM.
	awsCfg, err := awsconfig.Load(ctx, cfg.Region, awsconfig.WithMaxConnsPerHost(cfg.PublishInFlight+1),
		awsconfig.WithLogger(log), awsconfig.CountRequests(reg, metricsNamespace))
	if err != nil {
		log.Error("start-up failed", "error", err.Error())
		return 1
	}
	publisher, err := publish.New(ctx, awsconfig.NewSQS(awsCfg), cfg.SQSQueueURL, publish.Options{
		MaxInFlight: cfg.PublishInFlight, Registerer: reg, Namespace: metricsNamespace,
	})
	if err != nil {
		log.Error("start-up failed", "error", err.Error())
		return 1
	}
	tokens := token.New(
		token.SSMSource{Client: awsconfig.NewSSM(awsCfg), Name: cfg.SSMParameterName},
		token.Options{TTL: cfg.TokenCacheTTL, StaleMax: cfg.TokenStaleMax, Logger: log, Metrics: token.NewMetrics(reg, metricsNamespace)},
	)
	opts := handler.Options{
		Tokens:       tokens,
		Publisher:    publisher,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Logger:       log,
		HTTP:         metrics.NewHTTP(reg, metricsNamespace),
	}
	public := &listener{addr: cfg.HTTPAddr}
	servers := []*listener{public}
	metricsLn := public
	if cfg.MetricsAddr == "" {
		opts.Metrics = metrics.Handler(reg)
	} else {
		metricsLn = &listener{addr: cfg.MetricsAddr, handler: metrics.Handler(reg)}
		servers = append(servers, metricsLn)
	}
	public.handler = handler.New(opts)

	for i, l := range servers {
		if l.ln, err = httpserver.Listen(l.addr); err != nil {
			log.Error("start-up failed", "error", err.Error())
			for _, opened := range servers[:i] {
				opened.ln.Close()
			}
			return 1
		}
	}
	log.Info("api started", "addr", public.ln.Addr().String(), "metrics_addr", metricsLn.ln.Addr().String(),
		"queue_url", cfg.SQSQueueURL, "queue_max_message_bytes", publisher.MaxMessageBytes(),
		"publish_max_in_flight", cfg.PublishInFlight, "ssm_parameter", cfg.SSMParameterName, "region", awsCfg.Region,
		"gogc", gogc)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	failed := make(chan error, len(servers))
	for _, l := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpserver.Serve(ctx, httpserver.New(l.handler, log), l.ln, cfg.ShutdownTimeout); err != nil {
				failed <- err
				cancel() // one listener down takes the other with it
			}
		}()
	}
	<-ctx.Done()
	log.Info("api stopping: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	wg.Wait()
	close(failed)
	status := 0
	for err := range failed {
		log.Error("server stopped with an error", "error", err.Error())
		status = 1
	}
	log.Info("api stopped", "status", status)
	return status
}

// listener is one address the service serves, and what it serves there.
type listener struct {
	addr    string
	handler http.Handler
	ln      net.Listener
}
