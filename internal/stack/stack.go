package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"
)

// Options configure Start. Zero values pick what a test wants: free ports,
// default names, logs discarded.
type Options struct {
	// Emulator, if set, is used and left running by Stop; otherwise Start
	// serves one on EmulatorAddr ("" means 127.0.0.1:0) with OnPut.
	Emulator     *Emulator
	EmulatorAddr string
	OnPut        PutFunc

	// APIAddr and ConsumerAddr: "" picks a free loopback port, and a new
	// one if another process takes it first (StartOnFreePort).
	APIAddr      string
	ConsumerAddr string

	Names    Names
	Binaries Binaries

	// APIEnv and ConsumerEnv override or add to the children's variables.
	APIEnv      map[string]string
	ConsumerEnv map[string]string

	// Logs receives both children's output, each line prefixed with the
	// service's name.
	Logs io.Writer

	// ReadyTimeout bounds the wait for both /health endpoints (10s).
	ReadyTimeout time.Duration

	// DeferConsumer leaves the consumer to a later StartConsumer, for a
	// caller that fills the queue first. Starting it and stopping it again
	// would not do: SQS (and the emulator) may hand the first messages
	// sent to a long poll the stopped consumer cancelled a moment before,
	// and they would wait out a visibility timeout.
	DeferConsumer bool
}

// Stack is a running local pipeline.
type Stack struct {
	Emulator  *Emulator
	Clients   Clients
	Resources Resources
	API       *Process
	Consumer  *Process
	// APIURL is the base URL of the API, e.g. http://127.0.0.1:8080.
	APIURL string

	sink         *LogSink
	apiSpec      ServiceSpec
	consumerSpec ServiceSpec
	ownEmulator  bool
}

// Log prefixes, padded so the two services' lines align.
const (
	APIPrefix      = "api      | "
	ConsumerPrefix = "consumer | "
)

// Start serves the emulator (unless given one), provisions the resources,
// starts the api and the consumer (unless DeferConsumer) and waits until
// they answer /health. On error everything it started is stopped again.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	if opts.Binaries.API == "" || opts.Binaries.Consumer == "" {
		return nil, errors.New("stack: both service binaries are required")
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	s := &Stack{Emulator: opts.Emulator, sink: NewLogSink(logs)}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	if s.Emulator == nil {
		addr := opts.EmulatorAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if s.Emulator, err = StartEmulator(addr, opts.OnPut); err != nil {
			return nil, err
		}
		s.ownEmulator = true
	}
	s.Clients = NewClients(s.Emulator.URL)
	if s.Resources, err = Provision(ctx, s.Clients, opts.Names); err != nil {
		return nil, fmt.Errorf("provision emulator at %s: %w", s.Emulator.URL, err)
	}

	apiAddr, consumerAddr := opts.APIAddr, opts.ConsumerAddr
	common := map[string]string{
		"AWS_REGION":            Region,
		"AWS_ENDPOINT_URL":      s.Emulator.URL,
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"LOG_LEVEL":             "info",
	}
	apiEnv := maps.Clone(common)
	maps.Copy(apiEnv, map[string]string{
		"HTTP_ADDR":          apiAddr,
		"SSM_PARAMETER_NAME": s.Resources.Parameter,
		"SQS_QUEUE_URL":      s.Resources.QueueURL,
	})
	maps.Copy(apiEnv, opts.APIEnv)
	consumerEnv := maps.Clone(common)
	maps.Copy(consumerEnv, map[string]string{
		"HTTP_ADDR":      consumerAddr,
		"SQS_QUEUE_URL":  s.Resources.QueueURL,
		"S3_BUCKET_NAME": s.Resources.Bucket,
		// Locally nobody wants to wait the production 10s for an empty
		// queue to be polled again.
		"POLL_INTERVAL": "1s",
	})
	maps.Copy(consumerEnv, opts.ConsumerEnv)

	s.apiSpec = ServiceSpec{Name: "api", Bin: opts.Binaries.API, Addr: apiAddr, Env: apiEnv}
	s.consumerSpec = ServiceSpec{Name: "consumer", Bin: opts.Binaries.Consumer, Addr: consumerAddr, Env: consumerEnv}

	readyTimeout := opts.ReadyTimeout
	if readyTimeout == 0 {
		readyTimeout = 10 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if s.API, err = s.start(rctx, s.apiSpec, APIPrefix); err != nil {
		return nil, err
	}
	s.APIURL = "http://" + DialAddr(s.API.Addr)
	if !opts.DeferConsumer {
		if s.Consumer, err = s.StartConsumer(rctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// StartConsumer starts the consumer with the configuration it had, as ECS
// would start a replacement task, and waits for it to be healthy. The
// previous consumer, if still running, is not stopped.
func (s *Stack) StartConsumer(ctx context.Context) (*Process, error) {
	p, err := s.start(ctx, s.consumerSpec, ConsumerPrefix)
	if err != nil {
		return nil, err
	}
	s.Consumer = p
	return p, nil
}

func (s *Stack) start(ctx context.Context, spec ServiceSpec, prefix string) (*Process, error) {
	if spec.Addr == "" {
		return StartOnFreePort(ctx, spec, func() io.Writer { return s.sink.Prefixed(prefix) })
	}
	spec.Logs = s.sink.Prefixed(prefix)
	p, err := StartProcess(spec)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHealthy(ctx); err != nil {
		_, _ = p.Stop(2 * time.Second)
		return nil, err
	}
	return p, nil
}

// Stop sends SIGTERM to the api first, so nothing new is queued, then to
// the consumer, so it drains what is in flight, each with grace to exit;
// then it closes an emulator it started. It reports children that had to be
// killed or exited non-zero.
func (s *Stack) Stop(grace time.Duration) error {
	var errs []error
	for _, p := range []*Process{s.API, s.Consumer} {
		if p == nil {
			continue
		}
		code, err := p.Stop(grace)
		if err != nil {
			errs = append(errs, err)
		} else if code != 0 {
			errs = append(errs, fmt.Errorf("%s exited with code %d", p.Name, code))
		}
	}
	if s.ownEmulator && s.Emulator != nil {
		if err := s.Emulator.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close emulator: %w", err))
		}
		s.Emulator = nil
	}
	return errors.Join(errs...)
}
