// Package config reads typed settings from the environment.
//
// A Loader collects every problem instead of stopping at the first, so an
// operator who deploys a bad task definition sees all of its mistakes in one
// start-up message rather than fixing them one restart at a time.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/libs/logging"
)

// LookupFunc reports the value of an environment variable, like os.LookupEnv.
type LookupFunc func(key string) (string, bool)

// Loader reads variables through a LookupFunc and remembers every problem.
type Loader struct {
	lookup   LookupFunc
	problems []error
}

// NewLoader returns a Loader over lookup; nil means os.LookupEnv.
func NewLoader(lookup LookupFunc) *Loader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Loader{lookup: lookup}
}

// FromMap adapts a map to a LookupFunc, for tests and tools.
func FromMap(m map[string]string) LookupFunc {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

func (l *Loader) raw(key string) (string, bool) {
	v, ok := l.lookup(key)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// Problem records a problem found outside the Loader, such as a rule that
// spans two variables, so that it is reported together with the rest.
func (l *Loader) Problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Errorf(format, args...))
}

// String returns the variable's value, or def when it is unset or blank.
func (l *Loader) String(key, def string) string {
	if v, ok := l.raw(key); ok {
		return v
	}
	return def
}

// Required returns the variable's value and records a problem when it is
// unset or blank.
func (l *Loader) Required(key string) string {
	v, ok := l.raw(key)
	if !ok {
		l.Problem("%s is required", key)
	}
	return v
}

// Duration parses a Go duration ("250ms", "5m"). A bare integer is taken as
// seconds because the system this replaces documented POLL_INTERVAL=10.
func (l *Loader) Duration(key string, def, min, max time.Duration) time.Duration {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil {
			l.Problem("%s=%q is not a duration (examples: 10s, 5m, 250ms)", key, v)
			return def
		}
		// Multiplying first would wrap: 36028797018963978 seconds would
		// silently read as 10s.
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			l.Problem("%s=%s seconds is too long for a duration", key, v)
			return def
		}
		d = time.Duration(n) * time.Second
	}
	if d < min || d > max {
		l.Problem("%s=%s is out of range [%s, %s]", key, d, min, max)
		return def
	}
	return d
}

// Int parses a base-10 integer within [min, max].
func (l *Loader) Int(key string, def, min, max int64) int64 {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		l.Problem("%s=%q is not an integer", key, v)
		return def
	}
	if n < min || n > max {
		l.Problem("%s=%d is out of range [%d, %d]", key, n, min, max)
		return def
	}
	return n
}

// OneOf returns the variable's value when it is one of allowed, else def
// with a problem recorded.
func (l *Loader) OneOf(key, def string, allowed ...string) string {
	v, ok := l.raw(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.Problem("%s=%q must be one of %s", key, v, strings.Join(allowed, ", "))
	return def
}

// URL returns a required http(s) URL with a host, such as a queue URL.
func (l *Loader) URL(key string) string {
	v := l.Required(key)
	if v == "" {
		return v
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.Problem("%s=%q is not an http(s) URL", key, v)
	}
	return v
}

// Addr returns a listen address, host:port with a numeric port (":8080",
// "127.0.0.1:0"). An empty def makes the variable optional: unset gives "".
func (l *Loader) Addr(key, def string) string {
	v := l.String(key, def)
	if v == "" {
		return v
	}
	if _, port, err := net.SplitHostPort(v); err != nil {
		l.Problem("%s=%q is not host:port (example: :8080)", key, v)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.Problem("%s=%q has an invalid port", key, v)
	}
	return v
}

// LogLevel reads a log level (debug, info, warn, error); the default is info.
func (l *Loader) LogLevel(key string) slog.Level {
	level, err := logging.ParseLevel(l.String(key, "info"))
	if err != nil {
		l.Problem("%s: %v", key, err)
	}
	return level
}

// Err returns every recorded problem joined into one error, or nil.
func (l *Loader) Err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return &Error{Problems: append([]error(nil), l.problems...)}
}

// Error lists every configuration problem found at start-up.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// ExitCode is the process status for a configuration error, as documented
// for both services.
const ExitCode = 2

// IsConfigError reports whether err came from a Loader.
func IsConfigError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}
