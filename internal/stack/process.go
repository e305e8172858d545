package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"syscall"
	"time"
)

// ServiceSpec describes one child process.
type ServiceSpec struct {
	Name string // "api" or "consumer": the log prefix and error context
	Bin  string
	// Addr is the child's HTTP_ADDR, where /health answers.
	Addr string
	// Env is the child's whole configuration; see childEnv for what else
	// it inherits.
	Env map[string]string
	// Logs receives the child's stdout and stderr; nil discards them.
	Logs io.Writer
}

// Process is a running child.
type Process struct {
	Name string
	Addr string

	cmd  *exec.Cmd
	logs io.Closer
	done chan struct{}
	err  error // set before done is closed
}

// inheritedEnv are the only variables a child takes from the launcher's
// environment. Everything AWS-related is set explicitly, so a developer's
// AWS_PROFILE or AWS_ENDPOINT_URL_S3 cannot send a local run elsewhere.
var inheritedEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "GOCOVERDIR"}

func childEnv(extra map[string]string) []string {
	env := map[string]string{
		// No profile, no instance metadata: the fake keys in extra are
		// the only credentials the child can find.
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// StartProcess starts spec's binary. The child gets its own process group,
// so a Ctrl-C in the terminal reaches only the launcher, which then stops
// the children in order.
func StartProcess(spec ServiceSpec) (*Process, error) {
	if spec.Bin == "" {
		return nil, fmt.Errorf("%s: no binary given", spec.Name)
	}
	logs := spec.Logs
	if logs == nil {
		logs = io.Discard
	}
	cmd := exec.Command(spec.Bin)
	cmd.Env = childEnv(spec.Env)
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Bin, err)
	}
	p := &Process{Name: spec.Name, Addr: spec.Addr, cmd: cmd, done: make(chan struct{})}
	if c, ok := spec.Logs.(io.Closer); ok {
		p.logs = c
	}
	go func() {
		p.err = cmd.Wait()
		if p.logs != nil {
			_ = p.logs.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id, e.g. for reading its CPU time.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited and its output is flushed.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the child's exit status once Done is closed: -1 while it
// runs or when a signal ended it.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Signal sends sig to the child.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM, as ECS does, and waits up to grace for the child to
// exit; after that it kills it. It returns the exit code, and an error when
// the child had to be killed.
func (p *Process) Stop(grace time.Duration) (int, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.ExitCode(), nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return p.ExitCode(), fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.Name, grace)
	}
}

// HealthURL is the child's /health endpoint.
func (p *Process) HealthURL() string { return "http://" + DialAddr(p.Addr) + "/health" }

// WaitHealthy polls /health until it answers 200, the child exits, or ctx
// ends.
func (p *Process) WaitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	// A probe must not outlive the child: if another process holds the port
	// (the child then exits with "address already in use"), it may accept
	// the connection and never answer.
	probeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-probeCtx.Done():
		}
	}()
	for {
		req, err := http.NewRequestWithContext(probeCtx, http.MethodGet, p.HealthURL(), nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				select {
				case <-p.done:
					// Whoever answered, it was not this child.
					return fmt.Errorf("%s exited before it was healthy (exit code %d)", p.Name, p.ExitCode())
				default:
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was healthy (exit code %d)", p.Name, p.ExitCode())
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s: %w", p.Name, p.HealthURL(), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// DialAddr turns a listen address such as ":8080" into one a client can
// dial.
func DialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
