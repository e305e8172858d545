// Package healthcheck is the services' `healthcheck` mode: `/app/api
// healthcheck` asks the running service, on the loopback address of its
// own HTTP_ADDR, for /health and exits 0 when it answers 200 and 1
// otherwise. The images are distroless, with no shell or curl, so an ECS
// container health check can only run the service's own binary.
package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
)

// Arg is the command-line argument that selects the mode.
const Arg = "healthcheck"

// Timeout bounds the whole probe; the task definitions give ECS's own
// check a longer timeout, so a slow answer is reported by this process
// rather than killed by ECS.
const Timeout = 3 * time.Second

// Requested reports whether the process arguments (without the program
// name) ask for the health check.
func Requested(args []string) bool { return len(args) == 1 && args[0] == Arg }

// Run probes /health at HTTP_ADDR (read through lookup; defaultAddr when
// unset) and returns the exit code, writing the reason for a failure to
// stderr.
func Run(lookup config.LookupFunc, defaultAddr string, stderr io.Writer) int {
	l := config.NewLoader(lookup)
	addr := l.Addr("HTTP_ADDR", defaultAddr)
	if err := l.Err(); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	url := "http://" + Loopback(addr) + "/health"
	if err := Probe(url, Timeout); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	return 0
}

// Probe GETs url and reports an error unless the answer is 200 within
// timeout.
func Probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{
		// Never through a proxy from the task's environment, and never
		// somewhere a redirect points: the answer must be the service's.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, want 200", url, resp.StatusCode)
	}
	return nil
}

// Loopback turns a listen address into the loopback address a process in
// the same network namespace dials: ":8080" and "0.0.0.0:8080" become
// "127.0.0.1:8080", "[::]:8080" becomes "[::1]:8080"; a specific host is
// kept.
func Loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
