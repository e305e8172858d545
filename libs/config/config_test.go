package config

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLoaderReadsTypedValuesAndDefaults(t *testing.T) {
	l := NewLoader(FromMap(map[string]string{
		"NAME":    "  queue ",
		"WAIT":    "250ms",
		"SECONDS": "10",
		"COUNT":   "7",
		"MODE":    "aws:kms",
		"BLANK":   "   ",
	}))
	if got := l.String("NAME", "x"); got != "queue" {
		t.Errorf("String = %q, want trimmed %q", got, "queue")
	}
	if got := l.String("BLANK", "def"); got != "def" {
		t.Errorf("blank String = %q, want default", got)
	}
	if got := l.Duration("WAIT", time.Second, 0, time.Hour); got != 250*time.Millisecond {
		t.Errorf("Duration = %s", got)
	}
	if got := l.Duration("SECONDS", time.Second, 0, time.Hour); got != 10*time.Second {
		t.Errorf("bare integer Duration = %s, want 10s", got)
	}
	if got := l.Duration("MISSING", 3*time.Second, 0, time.Hour); got != 3*time.Second {
		t.Errorf("default Duration = %s", got)
	}
	if got := l.Int("COUNT", 1, 1, 100); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := l.OneOf("MODE", "AES256", "AES256", "aws:kms"); got != "aws:kms" {
		t.Errorf("OneOf = %q", got)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestLoaderReportsEveryProblemAtOnce(t *testing.T) {
	l := NewLoader(FromMap(map[string]string{
		"WAIT":  "soon",
		"COUNT": "x",
		"BIG":   "1000",
		"MODE":  "rot13",
		"LONG":  "2h",
	}))
	l.Required("QUEUE_URL")
	l.Duration("WAIT", time.Second, 0, time.Hour)
	l.Duration("LONG", time.Second, 0, time.Hour)
	l.Int("COUNT", 1, 1, 10)
	l.Int("BIG", 1, 1, 10)
	l.OneOf("MODE", "AES256", "AES256", "aws:kms")
	l.Problem("S3_KMS_KEY_ID is required when S3_SSE=aws:kms")
	err := l.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	if !IsConfigError(err) {
		t.Errorf("IsConfigError = false for %T", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"7 problems",
		"QUEUE_URL is required",
		`WAIT="soon" is not a duration`,
		"LONG=2h0m0s is out of range",
		`COUNT="x" is not an integer`,
		"BIG=1000 is out of range [1, 10]",
		`MODE="rot13" must be one of AES256, aws:kms`,
		"S3_KMS_KEY_ID is required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 7 {
		t.Errorf("want 7 problems, got %v", ce)
	}
}

func TestSingleProblemIsSingular(t *testing.T) {
	l := NewLoader(FromMap(nil))
	l.Required("X")
	if got := l.Err().Error(); !strings.HasPrefix(got, "invalid configuration (1 problem):") {
		t.Errorf("got %q", got)
	}
	if IsConfigError(errors.New("other")) {
		t.Error("plain error reported as config error")
	}
}

func TestNilLookupUsesProcessEnvironment(t *testing.T) {
	t.Setenv("MSGPIPE_CONFIG_TEST", "from-env")
	if got := NewLoader(nil).String("MSGPIPE_CONFIG_TEST", ""); got != "from-env" {
		t.Errorf("got %q", got)
	}
}

func TestURLAddrAndLogLevel(t *testing.T) {
	l := NewLoader(FromMap(map[string]string{
		"GOOD_URL": "https://sqs.us-east-1.amazonaws.com/123/q", "BAD_URL": "my-queue", "HOSTLESS_URL": "http://",
		"GOOD_ADDR": "127.0.0.1:0", "BAD_ADDR": "8080", "BAD_PORT": ":http", "LEVEL": "debug",
	}))
	if got := l.URL("GOOD_URL"); got != "https://sqs.us-east-1.amazonaws.com/123/q" {
		t.Errorf("URL = %q", got)
	}
	if got := l.Addr("GOOD_ADDR", ":8080"); got != "127.0.0.1:0" {
		t.Errorf("Addr = %q", got)
	}
	if got := l.Addr("UNSET_ADDR", ""); got != "" {
		t.Errorf("optional Addr = %q", got)
	}
	if got := l.LogLevel("LEVEL"); got != slog.LevelDebug {
		t.Errorf("LogLevel = %v", got)
	}
	if got := l.LogLevel("UNSET_LEVEL"); got != slog.LevelInfo {
		t.Errorf("default LogLevel = %v", got)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	l.URL("BAD_URL")
	l.URL("HOSTLESS_URL")
	l.URL("MISSING_URL")
	l.Addr("BAD_ADDR", "")
	l.Addr("BAD_PORT", "")
	l.LogLevel("BAD_URL")
	msg := l.Err().Error()
	for _, want := range []string{
		`BAD_URL="my-queue" is not an http(s) URL`, `HOSTLESS_URL="http://" is not an http(s) URL`, "MISSING_URL is required",
		`BAD_ADDR="8080" is not host:port`, `BAD_PORT=":http" has an invalid port`, "BAD_URL: log level",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// A bare integer too large to be a duration in seconds must be refused, not
// wrapped around into a small, plausible value.
func TestDurationInSecondsThatOverflowsIsRefused(t *testing.T) {
	for _, v := range []string{"36028797018963978", "9223372037", "-9223372037", "9223372036854775807"} {
		l := NewLoader(FromMap(map[string]string{"POLL_INTERVAL": v}))
		got := l.Duration("POLL_INTERVAL", 10*time.Second, 0, time.Hour)
		err := l.Err()
		if err == nil || !strings.Contains(err.Error(), "POLL_INTERVAL") {
			t.Errorf("%s: read as %s with no problem (%v)", v, got, err)
		}
		if got != 10*time.Second {
			t.Errorf("%s: got %s, want the default back", v, got)
		}
	}
	// The largest whole number of seconds that fits is still accepted
	// when the range allows it.
	l := NewLoader(FromMap(map[string]string{"D": "9223372036"}))
	if got := l.Duration("D", 0, 0, math.MaxInt64); got != 9223372036*time.Second || l.Err() != nil {
		t.Errorf("largest duration: %s, %v", got, l.Err())
	}
}
