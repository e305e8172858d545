package check

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
)

// Settings are the check's inputs from the environment, named as the
// original check's documentation named them.
type Settings struct {
	APIURL   string        // API_URL, or http://ALB_DNS
	Token    string        // API_TOKEN
	Bucket   string        // S3_BUCKET_NAME
	QueueURL string        // SQS_QUEUE_URL, optional
	Region   string        // AWS_REGION (us-east-1)
	Timeout  time.Duration // E2E_TIMEOUT (60s)
}

// LoadSettings reads the environment through lookup and names every
// missing or bad variable at once.
func LoadSettings(lookup config.LookupFunc) (Settings, error) {
	l := config.NewLoader(lookup)
	var s Settings
	s.APIURL = l.String("API_URL", "")
	if s.APIURL == "" {
		if dns := l.String("ALB_DNS", ""); dns != "" {
			s.APIURL = dns
			if !strings.Contains(dns, "://") {
				s.APIURL = "http://" + dns
			}
		}
	}
	if s.APIURL == "" {
		l.Problem("API_URL (or ALB_DNS) is required")
	} else if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.Problem("API_URL=%q is not an http(s) URL", s.APIURL)
	}
	s.Token = l.Required("API_TOKEN")
	s.Bucket = l.Required("S3_BUCKET_NAME")
	s.QueueURL = l.String("SQS_QUEUE_URL", "")
	s.Region = l.String("AWS_REGION", "us-east-1")
	s.Timeout = l.Duration("E2E_TIMEOUT", DefaultTimeout, time.Second, time.Hour)
	return s, l.Err()
}

// AllLocal reports whether the check would touch only this machine: the
// API on a loopback address and every AWS service it calls overridden to a
// loopback endpoint. Only then may it run unattended without --yes.
func (s Settings) AllLocal(lookup config.LookupFunc) bool {
	if !IsLoopbackURL(s.APIURL) {
		return false
	}
	services := []string{"S3"}
	if s.QueueURL != "" {
		services = append(services, "SQS")
	}
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	for _, svc := range services {
		endpoint := get("AWS_ENDPOINT_URL_" + svc)
		if endpoint == "" {
			endpoint = get("AWS_ENDPOINT_URL")
		}
		if !IsLoopbackURL(endpoint) {
			return false
		}
	}
	return true
}

// IsLoopbackURL reports whether raw is a URL whose host is localhost or a
// loopback address.
func IsLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrNotConfirmed means the person, or the lack of one, did not agree to
// run against real resources.
var ErrNotConfirmed = errors.New("not confirmed")

// Confirm decides whether the check may run. Against anything but a local
// stack it asks on a terminal, and refuses without one unless yes is set,
// because the check writes to a real queue and bucket and costs money.
func Confirm(s Settings, allLocal, yes, terminal bool, in io.Reader, out io.Writer) error {
	if allLocal || yes {
		return nil
	}
	if !terminal {
		return fmt.Errorf("%w: this run would use real AWS resources (API %s, bucket %s); pass --yes to run without a terminal", ErrNotConfirmed, s.APIURL, s.Bucket)
	}
	fmt.Fprintf(out, "This E2E test sends a real message through %s and writes (then deletes)\n", s.APIURL)
	fmt.Fprintf(out, "one object in s3://%s (region %s). It uses real AWS resources and may incur small costs.\n", s.Bucket, s.Region)
	fmt.Fprint(out, "Continue? [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return fmt.Errorf("%w: no answer", ErrNotConfirmed)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%w: answered %q", ErrNotConfirmed, strings.TrimSpace(line))
}
