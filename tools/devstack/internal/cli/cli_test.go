package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devops-exam/msgpipe/internal/stack"
	"github.com/devops-exam/msgpipe/internal/testkit"
)

// The test binary stands in for both services: devstack gives its children
// AWS_ENDPOINT_URL and HTTP_ADDR, which a test run never has.
func TestMain(m *testing.M) {
	if os.Getenv("AWS_ENDPOINT_URL") != "" && os.Getenv("HTTP_ADDR") != "" {
		fakeService()
	}
	os.Exit(m.Run())
}

func fakeService() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		// "address already in use" tells the test to retry on other ports.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	}()
	println("fake service up")
	// A consumer whose queue is named "dies-after-start" crashes once
	// healthy: the only way to tell one fake child from the outside.
	if strings.Contains(os.Getenv("SQS_QUEUE_URL"), "dies-after-start") && os.Getenv("S3_BUCKET_NAME") != "" {
		time.Sleep(300 * time.Millisecond)
		os.Exit(1)
	}
	<-ctx.Done()
	os.Exit(0)
}

func useFakeServices(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(stack.EnvAPIBin, exe)
	t.Setenv(stack.EnvConsumerBin, exe)
}

func freePort(t *testing.T) (string, int) {
	t.Helper()
	addr, err := stack.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return addr, n
}

// onFreePorts runs try with three ports that were free a moment ago. devstack
// takes port numbers, so a test running in parallel can take one first; try
// says so by returning true (its output named a port in use), and it runs
// again on fresh ports, at most five times.
func onFreePorts(t *testing.T, try func(port int, apiAddr, consumerAddr string) (portTaken bool)) {
	t.Helper()
	for range 5 {
		_, port := freePort(t)
		apiAddr, _ := freePort(t)
		consumerAddr, _ := freePort(t)
		if !try(port, apiAddr, consumerAddr) {
			return
		}
		t.Logf("a port was taken before devstack could bind it; trying other ports")
	}
	t.Fatal("five sets of free ports were all taken first")
}

func portTaken(out ...string) bool {
	for _, o := range out {
		if strings.Contains(o, "is already in use") || strings.Contains(o, "address already in use") {
			return true
		}
	}
	return false
}

func TestRunStartsPrintsAndStopsCleanly(t *testing.T) {
	useFakeServices(t)
	onFreePorts(t, func(port int, apiAddr, consumerAddr string) bool {
		out := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var stdout, stderr testkit.Buffer
		done := make(chan int, 1)
		go func() {
			done <- Run(ctx, []string{"--port", strconv.Itoa(port), "--api-addr", apiAddr, "--consumer-addr", consumerAddr,
				"--token", "tok-123", "--out", out, "--bucket", "devstack-cli-test", "--queue", "devstack-cli-test"}, &stdout, &stderr)
		}()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(stdout.String(), "Press Ctrl-C to stop.") {
			select {
			case code := <-done:
				if portTaken(stdout.String(), stderr.String()) {
					return true
				}
				t.Fatalf("Run returned %d early:\n%s\n%s", code, stdout.String(), stderr.String())
			case <-deadline:
				t.Fatalf("not ready:\n%s\n%s", stdout.String(), stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		resp, err := http.Get("http://" + apiAddr + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel() // what Ctrl-C does
		select {
		case code := <-done:
			if code != ExitOK {
				t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("did not stop")
		}
		got := stdout.String()
		for _, want := range []string{
			"API           http://" + apiAddr,
			"Token         tok-123",
			"AWS emulator  http://127.0.0.1:" + strconv.Itoa(port),
			"curl -sS -X POST http://" + apiAddr + "/api/message",
			`"token":"tok-123"}'`,
			"aws --endpoint-url http://127.0.0.1:" + strconv.Itoa(port) + " s3 ls s3://devstack-cli-test/messages/ --recursive",
			"Mirror        " + out + "/messages",
			"API_URL=http://" + apiAddr + " API_TOKEN=tok-123 S3_BUCKET_NAME=devstack-cli-test",
			"api      | fake service up",
			"consumer | fake service up",
			"Stopped cleanly.",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if t.Failed() {
			t.Log(got)
		}
		return false
	})
}

func TestRunStopsEverythingWhenAServiceDies(t *testing.T) {
	useFakeServices(t)
	onFreePorts(t, func(port int, apiAddr, consumerAddr string) bool {
		var stdout, stderr testkit.Buffer
		done := make(chan int, 1)
		go func() {
			done <- Run(t.Context(), []string{"--port", strconv.Itoa(port), "--api-addr", apiAddr, "--consumer-addr", consumerAddr,
				"--queue", "dies-after-start", "--bucket", "devstack-cli-dies"}, &stdout, &stderr)
		}()
		select {
		case code := <-done:
			if portTaken(stdout.String(), stderr.String()) {
				return true
			}
			if code != ExitFailure || !strings.Contains(stderr.String(), "the consumer exited unexpectedly (exit code 1); stopping the rest") {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("devstack kept running with a dead consumer:\n%s", stdout.String())
		}
		if err := stack.CheckFree(apiAddr); err != nil {
			t.Errorf("the api still holds its port: %v", err)
		}
		return false
	})
}

func TestRunRefusesABusyPortInOneLine(t *testing.T) {
	useFakeServices(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	_, port, _ := net.SplitHostPort(busy)
	onFreePorts(t, func(freeP int, free, _ string) bool {
		for _, args := range [][]string{
			{"--port", port, "--api-addr", free, "--consumer-addr", free},
			{"--port", strconv.Itoa(freeP), "--api-addr", busy},
		} {
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), args, &stdout, &stderr)
			if code != ExitFailure {
				t.Fatalf("%v: exit %d", args, code)
			}
			msg := stderr.String()
			if !strings.Contains(msg, busy) && portTaken(msg) {
				return true // one of the "free" ports was taken first
			}
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, busy+" is already in use") {
				t.Errorf("%v: stderr = %q", args, msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("%v: started something: %q", args, stdout.String())
			}
		}
		return false
	})
}

func TestParseFlags(t *testing.T) {
	c, err := ParseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 4566 || c.APIAddr != "127.0.0.1:8080" || c.ConsumerAddr != "127.0.0.1:8081" || c.PollInterval != time.Second ||
		c.Bucket != stack.DefaultBucket || c.Queue != stack.DefaultQueue || c.Parameter != stack.DefaultParameter {
		t.Errorf("defaults = %+v", c)
	}
	c, err = ParseFlags([]string{"--out", "rel"}, &bytes.Buffer{})
	if err != nil || !strings.HasSuffix(c.Out, "/rel") || c.Out[0] != '/' {
		t.Errorf("--out rel = %q, %v", c.Out, err)
	}
	t.Setenv("BUILD_WORKING_DIRECTORY", "/home/dev/repo")
	if c, err := ParseFlags([]string{"--out", "stored"}, &bytes.Buffer{}); err != nil || c.Out != "/home/dev/repo/stored" {
		t.Errorf("--out under bazel run = %q, %v", c.Out, err)
	}
	for _, bad := range [][]string{{"--port", "0"}, {"--port", "70000"}, {"--api-addr", "8080"}, {"--token", " x"}, {"extra"}, {"--nope"}} {
		if _, err := ParseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var stderr bytes.Buffer
	if code := Run(t.Context(), []string{"--port", "0"}, &bytes.Buffer{}, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), "--port 0") {
		t.Errorf("usage error: %d %q", code, stderr.String())
	}
	if code := Run(t.Context(), []string{"-h"}, &bytes.Buffer{}, &stderr); code != ExitOK {
		t.Errorf("-h: %d", code)
	}
}
