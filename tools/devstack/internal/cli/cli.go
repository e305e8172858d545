// Package cli is devstack's command line: flags, the start-up sequence, the
// summary a person needs to use the stack, and an orderly stop.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/libs/message"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Config is the parsed command line.
type Config struct {
	Port              int
	APIAddr           string
	ConsumerAddr      string
	Token             string
	Out               string
	PollInterval      time.Duration
	VisibilityTimeout time.Duration
	Queue             string
	Bucket            string
	Parameter         string
	StopGrace         time.Duration
}

const usage = `usage: devstack [flags]

Runs the pipeline locally: the AWS emulator, the queue with its dead-letter
queue, the bucket, the token parameter, and the api and consumer binaries.
Ctrl-C stops everything.

The service binaries come from MSGPIPE_API_BIN and MSGPIPE_CONSUMER_BIN when
both are set (Bazel sets them), else they are built from ./services.

flags:
`

// ParseFlags reads args into a Config.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&c.Port, "port", 4566, "loopback port of the AWS emulator")
	fs.StringVar(&c.APIAddr, "api-addr", "127.0.0.1:8080", "listen address of the api")
	fs.StringVar(&c.ConsumerAddr, "consumer-addr", "127.0.0.1:8081", "listen address of the consumer's /health and /metrics")
	fs.StringVar(&c.Token, "token", "", "API token to store in SSM (default: 32 random bytes, base64url)")
	fs.StringVar(&c.Out, "out", "", "folder to mirror stored objects into, as DIR/messages/YYYY/MM/DD/<id>.json")
	fs.DurationVar(&c.PollInterval, "poll-interval", time.Second, "consumer POLL_INTERVAL")
	fs.DurationVar(&c.VisibilityTimeout, "visibility-timeout", 30*time.Second, "consumer VISIBILITY_TIMEOUT")
	fs.StringVar(&c.Queue, "queue", stack.DefaultQueue, "queue name; the dead-letter queue is NAME-dlq")
	fs.StringVar(&c.Bucket, "bucket", stack.DefaultBucket, "bucket name")
	fs.StringVar(&c.Parameter, "parameter", stack.DefaultParameter, "SSM parameter holding the token")
	fs.DurationVar(&c.StopGrace, "stop-grace", 30*time.Second, "how long each service may take to stop after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("--port %d: want 1 to 65535", c.Port)
	}
	for _, a := range []struct{ flag, addr string }{{"--api-addr", c.APIAddr}, {"--consumer-addr", c.ConsumerAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return c, fmt.Errorf("%s %q: want HOST:PORT", a.flag, a.addr)
		}
	}
	if c.Token != "" && strings.TrimSpace(c.Token) != c.Token {
		return c, errors.New("--token must not start or end with white space")
	}
	if c.Out != "" {
		// bazel run starts the binary inside its runfiles tree; a relative
		// folder means the one the person typed the command in.
		if wd := os.Getenv("BUILD_WORKING_DIRECTORY"); wd != "" && !filepath.IsAbs(c.Out) {
			c.Out = filepath.Join(wd, c.Out)
		}
		abs, err := filepath.Abs(c.Out)
		if err != nil {
			return c, fmt.Errorf("--out: %w", err)
		}
		c.Out = abs
	}
	return c, nil
}

// Run starts the stack, prints how to use it, and stops it when ctx ends or
// a service dies. It returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return ExitUsage
	}
	return run(ctx, cfg, stdout, stderr)
}

func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "devstack: "+format+"\n", args...)
		return ExitFailure
	}
	emulatorAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))
	// Every port is checked before anything starts, so a busy port is one
	// clear line rather than a service dying half-way through start-up.
	for _, a := range []struct{ addr, flag string }{
		{emulatorAddr, "--port"}, {cfg.APIAddr, "--api-addr"}, {cfg.ConsumerAddr, "--consumer-addr"},
	} {
		if err := stack.CheckFree(a.addr); err != nil {
			if errors.Is(err, stack.ErrAddrInUse) {
				return fail("%s is already in use (another devstack, or an emulator such as LocalStack?); stop it or choose another with %s", a.addr, a.flag)
			}
			return fail("%v", err)
		}
	}

	began := time.Now()
	bins, prebuilt, err := stack.FindBinaries()
	if err != nil {
		return fail("%v", err)
	}
	if !prebuilt {
		dir, err := os.MkdirTemp("", "msgpipe-devstack-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(stdout, "Building ./services/api and ./services/consumer ...")
		root, err := stack.ModuleRoot(ctx)
		if err != nil {
			return fail("%v", err)
		}
		if bins, err = stack.Build(ctx, root, dir); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "Built in %s.\n", time.Since(began).Round(100*time.Millisecond))
	}

	sink := stack.NewLogSink(stdout)
	var mirror *stack.Mirror
	var onPut stack.PutFunc
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return fail("--out: %v", err)
		}
		mirror = stack.NewMirror(cfg.Out, cfg.Bucket, message.KeyPrefix, func(line string) { sink.Println("mirror   | ", line) })
		onPut = mirror.Observe
	}

	startedAt := time.Now()
	st, err := stack.Start(ctx, stack.Options{
		EmulatorAddr: emulatorAddr,
		OnPut:        onPut,
		APIAddr:      cfg.APIAddr,
		ConsumerAddr: cfg.ConsumerAddr,
		Names:        stack.Names{Queue: cfg.Queue, Bucket: cfg.Bucket, Parameter: cfg.Parameter, Token: cfg.Token},
		Binaries:     bins,
		ConsumerEnv: map[string]string{
			"POLL_INTERVAL":      cfg.PollInterval.String(),
			"VISIBILITY_TIMEOUT": cfg.VisibilityTimeout.String(),
		},
		Logs: stdout,
	})
	if err != nil {
		if errors.Is(err, stack.ErrAddrInUse) {
			return fail("%v; stop whatever holds it or choose another port", err)
		}
		return fail("%v", err)
	}
	if mirror != nil {
		mirror.Start(st.Clients.S3)
	}
	sink.Println("", Summary(st, cfg, time.Since(began), time.Since(startedAt)))

	var code int
	select {
	case <-ctx.Done():
		sink.Println("", "\nStopping: SIGTERM to the api, then the consumer ...")
	case <-st.API.Done():
		sink.Println("", "")
		code = fail("the api exited unexpectedly (exit code %d); stopping the rest", st.API.ExitCode())
	case <-st.Consumer.Done():
		sink.Println("", "")
		code = fail("the consumer exited unexpectedly (exit code %d); stopping the rest", st.Consumer.ExitCode())
	}
	if err := st.Stop(cfg.StopGrace); err != nil {
		if code == ExitOK {
			code = fail("%v", err)
		}
	}
	if mirror != nil {
		mirror.Close()
	}
	if code == ExitOK {
		sink.Println("", "Stopped cleanly.")
	}
	return code
}

// Summary is what a person needs to use the stack, with commands that work
// when pasted.
// total runs from devstack's start, startup from the end of the build.
func Summary(st *stack.Stack, cfg Config, total, startup time.Duration) string {
	r := st.Resources
	endpoint := st.Emulator.URL
	awsEnv := "AWS_ACCESS_KEY_ID=" + stack.AccessKeyID + " AWS_SECRET_ACCESS_KEY=" + stack.SecretAccessKey + " AWS_REGION=" + stack.Region
	sample := `{"data":{"email_subject":"Hello from the local stack","email_sender":"ann@example.com","email_timestream":"` +
		strconv.FormatInt(time.Now().Unix(), 10) + `","email_content":"It works."},"token":"` + r.Token + `"}`

	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("")
	line("============================================================")
	line("msgpipe local stack is ready in %s (services up %s after the build)", total.Round(10*time.Millisecond), startup.Round(10*time.Millisecond))
	line("============================================================")
	line("  API           %s   (POST /api/message, GET /health)", st.APIURL)
	line("  Consumer      http://%s   (GET /health, /metrics)", stack.DialAddr(cfg.ConsumerAddr))
	line("  AWS emulator  %s   (region %s, access key %s / secret %s)", endpoint, stack.Region, stack.AccessKeyID, stack.SecretAccessKey)
	line("  Queue         %s", r.QueueURL)
	line("  Dead letters  %s   (after %d receives)", r.DLQURL, r.MaxReceiveCount)
	line("  Bucket        s3://%s", r.Bucket)
	line("  Token         %s", r.Token)
	line("                (SSM SecureString %s)", r.Parameter)
	if cfg.Out != "" {
		line("  Mirror        %s", filepath.Join(cfg.Out, "messages"))
	}
	line("")
	line("Send a message:")
	line("  curl -sS -X POST %s/api/message -H 'Content-Type: application/json' -d '%s'", st.APIURL, sample)
	line("")
	line("See what was stored:")
	line("  %s aws --endpoint-url %s s3 ls s3://%s/messages/ --recursive", awsEnv, endpoint, r.Bucket)
	if cfg.Out != "" {
		line("  find %s -name '*.json'", filepath.Join(cfg.Out, "messages"))
	}
	line("")
	line("Run the end-to-end check against it:")
	line("  API_URL=%s API_TOKEN=%s S3_BUCKET_NAME=%s SQS_QUEUE_URL=%s AWS_ENDPOINT_URL=%s %s go run ./e2e",
		st.APIURL, r.Token, r.Bucket, r.QueueURL, endpoint, awsEnv)
	line("")
	line("Logs follow, prefixed by service. Press Ctrl-C to stop.")
	return b.String()
}
