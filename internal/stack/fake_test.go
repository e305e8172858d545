package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as a fake service so that process handling can be
// tested before, and independently of, the real api and consumer.
const fakeEnv = "STACK_FAKE_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) != "" {
		os.Exit(fakeService())
	}
	os.Exit(m.Run())
}

// fakeService serves /health and /env on HTTP_ADDR, prints a line, and on
// SIGTERM exits with FAKE_EXIT_CODE. FAKE_FAIL_AT_START makes it exit 3
// before listening, like a service with a bad configuration;
// FAKE_IGNORE_SIGTERM makes it hang until killed.
func fakeService() int {
	if os.Getenv("FAKE_FAIL_AT_START") != "" {
		fmt.Fprintln(os.Stderr, "invalid configuration: FAKE_FAIL_AT_START is set")
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if os.Getenv("FAKE_IGNORE_SIGTERM") != "" {
		// Like a service stuck in a put: SIGTERM is noticed but never acted on.
		ctx = context.Background()
	}
	ln, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		_ = json.NewEncoder(w).Encode(env)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("fake %s listening\npartial line without newline", os.Getenv(fakeEnv))
	<-ctx.Done()
	_ = srv.Close()
	code, _ := strconv.Atoi(os.Getenv("FAKE_EXIT_CODE"))
	return code
}

func fakeBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
