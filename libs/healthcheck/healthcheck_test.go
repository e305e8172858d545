package healthcheck

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
	"github.com/devops-exam/msgpipe/libs/httpserver"
)

// serve runs handler on a free loopback port and returns its port.
func serve(t *testing.T, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// deadPort returns a loopback port nothing listens on.
func deadPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func run(addr string) (int, string) {
	var stderr strings.Builder
	env := map[string]string{}
	if addr != "" {
		env["HTTP_ADDR"] = addr
	}
	code := Run(config.FromMap(env), ":1", &stderr)
	return code, stderr.String()
}

func TestHealthyServiceExitsZero(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", httpserver.Health)
	port := serve(t, mux)
	// The service listens on all interfaces, as in a task: the probe
	// dials loopback.
	if code, stderr := run(":" + port); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, stderr := run("127.0.0.1:" + port); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestDeadPortExitsOne(t *testing.T) {
	code, stderr := run(":" + deadPort(t))
	if code != 1 || !strings.Contains(stderr, "connection refused") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestUnhealthyAnswersExitOne(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"503": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		},
		"404": http.NotFound,
	} {
		t.Run(name, func(t *testing.T) {
			code, stderr := run(":" + serve(t, h))
			if code != 1 || !strings.Contains(stderr, "want 200") {
				t.Fatalf("exit %d: %s", code, stderr)
			}
		})
	}
}

func TestSlowAnswerTimesOut(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	port := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	err := Probe("http://127.0.0.1:"+port+"/health", 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("got %v", err)
	}
}

func TestBadAddressExitsOne(t *testing.T) {
	if code, stderr := run("8080"); code != 1 || !strings.Contains(stderr, "HTTP_ADDR") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestDefaultAddressIsUsedWhenUnset(t *testing.T) {
	var stderr strings.Builder
	port := deadPort(t)
	if code := Run(config.FromMap(nil), ":"+port, &stderr); code != 1 || !strings.Contains(stderr.String(), "127.0.0.1:"+port) {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestRequested(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"healthcheck"}, true},
		{nil, false},
		{[]string{"healthcheck", "extra"}, false},
		{[]string{"--healthcheck"}, false},
	} {
		if got := Requested(c.args); got != c.want {
			t.Errorf("Requested(%q) = %v", c.args, got)
		}
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:80": "127.0.0.1:80", "[::]:9": "[::1]:9",
		"10.0.0.5:8080": "10.0.0.5:8080", "nonsense": "nonsense",
	} {
		if got := Loopback(in); got != want {
			t.Errorf("Loopback(%q) = %q, want %q", in, got, want)
		}
	}
}
