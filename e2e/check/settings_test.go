package check

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
)

func TestLoadSettings(t *testing.T) {
	s, err := LoadSettings(config.FromMap(map[string]string{
		"ALB_DNS": "my-alb-123.us-east-1.elb.amazonaws.com", "API_TOKEN": "t", "S3_BUCKET_NAME": "b", "E2E_TIMEOUT": "90s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{APIURL: "http://my-alb-123.us-east-1.elb.amazonaws.com", Token: "t", Bucket: "b", Region: "us-east-1", Timeout: 90 * time.Second}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	s, err = LoadSettings(config.FromMap(map[string]string{"API_URL": "http://127.0.0.1:8080", "ALB_DNS": "ignored", "API_TOKEN": "t", "S3_BUCKET_NAME": "b"}))
	if err != nil || s.APIURL != "http://127.0.0.1:8080" || s.Timeout != DefaultTimeout {
		t.Errorf("API_URL wins: %+v %v", s, err)
	}
	_, err = LoadSettings(config.FromMap(map[string]string{"API_URL": "ftp://x", "E2E_TIMEOUT": "soon"}))
	for _, want := range []string{"API_URL=\"ftp://x\" is not an http(s) URL", "API_TOKEN is required", "S3_BUCKET_NAME is required", "E2E_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := LoadSettings(config.FromMap(nil)); err == nil || !strings.Contains(err.Error(), "API_URL (or ALB_DNS) is required") {
		t.Errorf("missing URL: %v", err)
	}
}

func TestAllLocal(t *testing.T) {
	local := Settings{APIURL: "http://127.0.0.1:8080"}
	queued := Settings{APIURL: "http://localhost:8080", QueueURL: "http://localhost:4566/000000000000/q"}
	cases := []struct {
		name string
		s    Settings
		env  map[string]string
		want bool
	}{
		{"local stack", local, map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, true},
		{"no endpoint override is AWS", local, nil, false},
		{"remote API", Settings{APIURL: "http://alb.example.com"}, map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, false},
		{"S3 override only, no queue", local, map[string]string{"AWS_ENDPOINT_URL_S3": "http://[::1]:4566"}, true},
		{"S3 local but SQS real", queued, map[string]string{"AWS_ENDPOINT_URL_S3": "http://localhost:4566"}, false},
		{"S3 override points away", queued, map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com"}, false},
	}
	for _, tc := range cases {
		if got := tc.s.AllLocal(config.FromMap(tc.env)); got != tc.want {
			t.Errorf("%s: AllLocal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConfirm(t *testing.T) {
	s := Settings{APIURL: "http://alb", Bucket: "b", Region: "us-east-1"}
	var out bytes.Buffer
	if err := Confirm(s, true, false, false, strings.NewReader(""), &out); err != nil || out.Len() != 0 {
		t.Errorf("local: %v %q", err, out.String())
	}
	if err := Confirm(s, false, true, false, strings.NewReader(""), &out); err != nil || out.Len() != 0 {
		t.Errorf("--yes: %v %q", err, out.String())
	}
	err := Confirm(s, false, false, false, strings.NewReader("y\n"), &out)
	if !errors.Is(err, ErrNotConfirmed) || !strings.Contains(err.Error(), "--yes") || out.Len() != 0 {
		t.Errorf("no terminal: %v %q", err, out.String())
	}
	for answer, ok := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false, "sure\n": false} {
		out.Reset()
		err := Confirm(s, false, false, true, strings.NewReader(answer), &out)
		if (err == nil) != ok {
			t.Errorf("answer %q: %v", answer, err)
		}
		if !strings.Contains(out.String(), "s3://b") || !strings.Contains(out.String(), "Continue? [y/N] ") {
			t.Errorf("prompt = %q", out.String())
		}
	}
}
