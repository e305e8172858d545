package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/devops-exam/msgpipe/internal/testkit"
)

var nameSeq atomic.Int64

// uniqueNames keeps tests apart in kumo's process-wide state.
func uniqueNames(t *testing.T) Names {
	n := nameSeq.Add(1)
	base := fmt.Sprintf("stack-test-%d-%d", os.Getpid(), n)
	return Names{Queue: base, Bucket: base, Parameter: "/" + base + "/token"}
}

func startEmulator(t *testing.T, onPut PutFunc) *Emulator {
	t.Helper()
	e, err := StartEmulator("127.0.0.1:0", onPut)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestProvisionCreatesQueueWithRedriveBucketAndSecureToken(t *testing.T) {
	e := startEmulator(t, nil)
	c := NewClients(e.URL)
	ctx := t.Context()
	names := uniqueNames(t)
	names.Token = "given-token"
	r, err := Provision(ctx, c, names)
	if err != nil {
		t.Fatal(err)
	}

	attrs, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(r.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs.Attributes["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", attrs.Attributes["RedrivePolicy"], err)
	}
	if redrive.DeadLetterTargetArn != r.DLQARN || fmt.Sprint(redrive.MaxReceiveCount) != "5" {
		t.Errorf("redrive = %+v, want DLQ %s after 5 receives", redrive, r.DLQARN)
	}
	if !strings.HasSuffix(r.DLQURL, "/"+names.Queue+"-dlq") {
		t.Errorf("DLQ URL %s", r.DLQURL)
	}

	if _, err := c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(r.Bucket)}); err != nil {
		t.Errorf("bucket: %v", err)
	}
	p, err := c.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(r.Parameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Parameter.Type != ssmtypes.ParameterTypeSecureString || aws.ToString(p.Parameter.Value) != "given-token" {
		t.Errorf("parameter = %s %q", p.Parameter.Type, aws.ToString(p.Parameter.Value))
	}

	// A restarted launcher provisions the same names again.
	names.Token = "rotated"
	if _, err := Provision(ctx, c, names); err != nil {
		t.Fatalf("second Provision: %v", err)
	}
}

func TestProvisionGeneratesAToken(t *testing.T) {
	e := startEmulator(t, nil)
	r, err := Provision(t.Context(), NewClients(e.URL), uniqueNames(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Token) != 43 || strings.ContainsAny(r.Token, "+/=") {
		t.Errorf("token %q is not 32 bytes of base64url", r.Token)
	}
	if r.Token == NewToken() {
		t.Error("tokens repeat")
	}
}

func TestDepthCountsMessages(t *testing.T) {
	e := startEmulator(t, nil)
	c := NewClients(e.URL)
	ctx := t.Context()
	r, err := Provision(ctx, c, uniqueNames(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(r.QueueURL), MessageBody: aws.String("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.QueueURL), MaxNumberOfMessages: 1}); err != nil {
		t.Fatal(err)
	}
	d, err := Depth(ctx, c.SQS, r.QueueURL)
	if err != nil {
		t.Fatal(err)
	}
	if d.Visible != 1 || d.NotVisible != 1 || d.Total() != 2 {
		t.Errorf("depth = %+v", d)
	}
}

func TestStartEmulatorOnABusyPortSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = StartEmulator(addr, nil)
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want ErrAddrInUse naming %s", err, addr)
	}
	if err := CheckFree(addr); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("CheckFree = %v", err)
	}
}

func TestMirrorCopiesObjectsAsTheyAreStored(t *testing.T) {
	dir := t.TempDir()
	names := uniqueNames(t)
	var mu sync.Mutex
	var reports []string
	m := NewMirror(dir, names.Bucket, "messages/", func(l string) { mu.Lock(); reports = append(reports, l); mu.Unlock() })
	e := startEmulator(t, m.Observe)
	c := NewClients(e.URL)
	m.Start(c.S3)
	ctx := t.Context()
	if _, err := Provision(ctx, c, names); err != nil {
		t.Fatal(err)
	}
	put := func(bucket, key, body string) {
		t.Helper()
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	other := uniqueNames(t)
	if _, err := Provision(ctx, c, other); err != nil {
		t.Fatal(err)
	}
	put(names.Bucket, "elsewhere/x.json", "no")
	put(other.Bucket, "messages/2024/01/15/y.json", "no")
	put(names.Bucket, "messages/2024/01/15/abc.json", `{"ok":true}`)
	m.Close() // drains the queue

	got, err := os.ReadFile(filepath.Join(dir, "messages", "2024", "01", "15", "abc.json"))
	if err != nil || string(got) != `{"ok":true}` {
		t.Fatalf("mirrored file = %q, %v", got, err)
	}
	var files []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, _ error) error {
		if !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Errorf("mirrored %v, want only the messages/ object of the bucket", files)
	}
	if len(reports) != 1 || !strings.Contains(reports[0], "messages/2024/01/15/abc.json -> ") {
		t.Errorf("reports = %q", reports)
	}
	m.Observe(names.Bucket, "messages/late.json") // after Close: ignored, no panic
}

func TestMirrorReportsWhatItCannotCopy(t *testing.T) {
	dir := t.TempDir()
	names := uniqueNames(t)
	var reports []string
	m := NewMirror(dir, names.Bucket, "messages/", func(l string) { reports = append(reports, l) })
	e := startEmulator(t, nil)
	c := NewClients(e.URL)
	if _, err := Provision(t.Context(), c, names); err != nil {
		t.Fatal(err)
	}
	m.Start(c.S3)
	m.Observe(names.Bucket, "messages/../../escape.json")
	m.Observe(names.Bucket, "messages/gone.json")
	m.Close()
	if len(reports) != 2 || !strings.Contains(reports[0], "escapes the output folder") || !strings.HasPrefix(reports[1], "not mirrored: messages/gone.json") {
		t.Fatalf("reports = %q", reports)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.json")); err == nil {
		t.Fatal("wrote outside the folder")
	}
}

func TestPlainPutIgnoresPartsCopiesAndBuckets(t *testing.T) {
	mk := func(method, target string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(method, "http://x"+target, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return &http.Response{StatusCode: 200, Request: req}
	}
	cases := []struct {
		resp        *http.Response
		bucket, key string
	}{
		{mk("PUT", "/b/messages/a%20b.json", nil), "b", "messages/a b.json"},
		{mk("PUT", "/b", nil), "", ""},
		{mk("PUT", "/b/k?partNumber=1&uploadId=x", nil), "", ""},
		{mk("PUT", "/b/k", map[string]string{"X-Amz-Copy-Source": "/b/j"}), "", ""},
		{mk("POST", "/b/k", nil), "", ""},
		{&http.Response{StatusCode: 412, Request: mk("PUT", "/b/k", nil).Request}, "", ""},
	}
	for _, tc := range cases {
		b, k, ok := plainPut(tc.resp)
		if b != tc.bucket || k != tc.key || ok != (tc.key != "") {
			t.Errorf("%s %s: got %q %q %v", tc.resp.Request.Method, tc.resp.Request.URL, b, k, ok)
		}
	}
}

func TestPrefixWriterKeepsLinesWhole(t *testing.T) {
	var buf bytes.Buffer
	sink := NewLogSink(&buf)
	a, b := sink.Prefixed("a | "), sink.Prefixed("b | ")
	_, _ = a.Write([]byte("one\ntw"))
	_, _ = b.Write([]byte("x\n"))
	_, _ = a.Write([]byte("o\nthree"))
	_ = a.Close()
	_ = b.Close()
	want := "a | one\nb | x\na | two\na | three\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}

	buf.Reset()
	long := sink.Prefixed("l | ")
	_, _ = long.Write(bytes.Repeat([]byte("x"), maxPending+10))
	if got := strings.Count(buf.String(), "l | "); got != 1 {
		t.Fatalf("an endless line was not passed on: %d prefixes", got)
	}
}

func TestChildEnvInheritsNothingAWS(t *testing.T) {
	t.Setenv("AWS_PROFILE", "prod")
	t.Setenv("AWS_ENDPOINT_URL_S3", "https://s3.amazonaws.com")
	t.Setenv("PATH", "/bin")
	env := strings.Join(childEnv(map[string]string{"AWS_REGION": "us-east-1"}), "\n")
	for _, bad := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL_S3"} {
		if strings.Contains(env, bad) {
			t.Errorf("child env carries %s:\n%s", bad, env)
		}
	}
	for _, want := range []string{"PATH=/bin", "AWS_REGION=us-east-1", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true"} {
		if !strings.Contains(env, want) {
			t.Errorf("child env lacks %s:\n%s", want, env)
		}
	}
}

func TestProcessStartsStreamsAndStopsOnSIGTERM(t *testing.T) {
	var buf *testkit.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := StartOnFreePort(ctx, ServiceSpec{
		Name: "fake", Bin: fakeBinary(t),
		Env: map[string]string{fakeEnv: "one", "FAKE_EXIT_CODE": "0"},
	}, func() io.Writer {
		// Only the attempt that served counts (see StartOnFreePort).
		buf = &testkit.Buffer{}
		return NewLogSink(buf).Prefixed("fake | ")
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != -1 {
		t.Fatal("running process reports an exit code")
	}
	code, err := p.Stop(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("Stop = %d, %v", code, err)
	}
	want := "fake | fake one listening\nfake | partial line without newline\n"
	if buf.String() != want {
		t.Errorf("logs = %q, want %q", buf.String(), want)
	}
}

func TestProcessReportsNonZeroExitAndEarlyDeath(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := StartOnFreePort(ctx, ServiceSpec{Name: "fake", Bin: fakeBinary(t),
		Env: map[string]string{fakeEnv: "x", "FAKE_EXIT_CODE": "7"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Stop(5 * time.Second); err != nil || code != 7 {
		t.Fatalf("Stop = %d, %v; want 7", code, err)
	}

	// A service that dies for another reason is not restarted.
	_, err = StartOnFreePort(ctx, ServiceSpec{Name: "fake", Bin: fakeBinary(t),
		Env: map[string]string{fakeEnv: "x", "FAKE_FAIL_AT_START": "1"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "exited before it was healthy (exit code 3)") {
		t.Fatalf("StartOnFreePort of a failing service = %v", err)
	}
	stuck, err := StartOnFreePort(ctx, ServiceSpec{Name: "stuck", Bin: fakeBinary(t),
		Env: map[string]string{fakeEnv: "x", "FAKE_IGNORE_SIGTERM": "1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "stuck did not stop within 200ms of SIGTERM; killed") {
		t.Fatalf("Stop of a process ignoring SIGTERM = %v", err)
	}
	if _, err := StartProcess(ServiceSpec{Name: "nothing", Bin: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("started a missing binary")
	}
}

// busyThenFree makes the race of StartOnFreePort happen: the first n picks
// name a port another listener holds.
func busyThenFree(t *testing.T, n int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	picks := 0
	pickAddr = func() (string, error) {
		picks++
		if picks <= n {
			return ln.Addr().String(), nil
		}
		return FreeAddr()
	}
	t.Cleanup(func() { pickAddr = FreeAddr })
}

func TestStartOnFreePortRetriesWhenThePortIsTakenFirst(t *testing.T) {
	busyThenFree(t, 2)
	var logs testkit.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := StartOnFreePort(ctx, ServiceSpec{Name: "fake", Bin: fakeBinary(t), Env: map[string]string{fakeEnv: "x"}},
		func() io.Writer { return NewLogSink(&logs).Prefixed("fake | ") })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	if strings.Count(logs.String(), "address already in use") != 2 || !strings.Contains(logs.String(), "fake x listening") {
		t.Errorf("want two refused ports, then a served one; logs:\n%s", logs.String())
	}
	resp, err := http.Get(p.HealthURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestStartOnFreePortGivesUp(t *testing.T) {
	busyThenFree(t, portAttempts)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := StartOnFreePort(ctx, ServiceSpec{Name: "fake", Bin: fakeBinary(t), Env: map[string]string{fakeEnv: "x"}}, nil)
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "gave up after 5 ports") {
		t.Fatalf("err = %v", err)
	}
}

func TestInUseWatchSeesTheMessageAcrossWrites(t *testing.T) {
	w := &inUseWatch{w: io.Discard}
	for _, part := range []string{"listen tcp 127.0.0.1:1: bind: addr", "ess already ", "in use\n"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if !w.found() {
		t.Error("split message not seen")
	}
	if (&inUseWatch{w: io.Discard}).found() {
		t.Error("empty watch reports a hit")
	}
}

func TestStackStartsBothServicesWithTheirContract(t *testing.T) {
	e := startEmulator(t, nil)
	names := uniqueNames(t)
	var logs testkit.Buffer
	bin := fakeBinary(t)
	st, err := Start(t.Context(), Options{
		Emulator:    e,
		Names:       names,
		Binaries:    Binaries{API: bin, Consumer: bin},
		APIEnv:      map[string]string{fakeEnv: "api"},
		ConsumerEnv: map[string]string{fakeEnv: "consumer", "VISIBILITY_TIMEOUT": "3s"},
		Logs:        &logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := func(p *Process) map[string]string {
		resp, err := http.Get("http://" + p.Addr + "/env")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	api, consumer := env(st.API), env(st.Consumer)
	for k, want := range map[string]string{
		"SSM_PARAMETER_NAME": names.Parameter, "SQS_QUEUE_URL": st.Resources.QueueURL,
		"AWS_ENDPOINT_URL": e.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_REGION": "us-east-1", "HTTP_ADDR": st.API.Addr,
	} {
		if api[k] != want {
			t.Errorf("api %s = %q, want %q", k, api[k], want)
		}
	}
	for k, want := range map[string]string{
		"S3_BUCKET_NAME": names.Bucket, "SQS_QUEUE_URL": st.Resources.QueueURL, "POLL_INTERVAL": "1s",
		"VISIBILITY_TIMEOUT": "3s", "AWS_SECRET_ACCESS_KEY": "test", "HTTP_ADDR": st.Consumer.Addr,
	} {
		if consumer[k] != want {
			t.Errorf("consumer %s = %q, want %q", k, consumer[k], want)
		}
	}
	if st.APIURL != "http://"+st.API.Addr {
		t.Errorf("APIURL = %s", st.APIURL)
	}
	if err := st.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"api      | fake api listening", "consumer | fake consumer listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestStackStartFailsCleanlyWhenAServiceDies(t *testing.T) {
	e := startEmulator(t, nil)
	bin := fakeBinary(t)
	_, err := Start(t.Context(), Options{
		Emulator:    e,
		Names:       uniqueNames(t),
		Binaries:    Binaries{API: bin, Consumer: bin},
		APIEnv:      map[string]string{fakeEnv: "api"},
		ConsumerEnv: map[string]string{fakeEnv: "consumer", "FAKE_FAIL_AT_START": "1"},
	})
	if err == nil || !strings.Contains(err.Error(), "consumer exited before it was healthy") {
		t.Fatalf("Start = %v", err)
	}
}

func TestFindBinaries(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "_main", "services", "api", "api_", "api")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"TEST_SRCDIR", "RUNFILES_MANIFEST_FILE", "RUNFILES_DIR", "BUILD_WORKSPACE_DIRECTORY"} {
		t.Setenv(k, "")
	}
	if _, ok, err := FindBinaries(); ok || err != nil {
		t.Errorf("FindBinaries with nothing set = %v, %v", ok, err)
	}
	t.Setenv(EnvAPIBin, bin)
	t.Setenv(EnvConsumerBin, "")
	if _, _, err := FindBinaries(); err == nil {
		t.Error("FindBinaries accepted only one of the two variables")
	}
	t.Setenv(EnvConsumerBin, bin)
	if b, ok, err := FindBinaries(); err != nil || !ok || b.API != bin || b.Consumer != bin {
		t.Errorf("FindBinaries = %+v %v %v", b, ok, err)
	}
	// Under Bazel the variables hold rlocation paths.
	t.Setenv("RUNFILES_DIR", dir)
	t.Setenv(EnvAPIBin, "_main/services/api/api_/api")
	if b, ok, err := FindBinaries(); err != nil || !ok || b.API != bin {
		t.Errorf("FindBinaries with an rlocation path = %+v %v %v", b, ok, err)
	}
	t.Setenv(EnvConsumerBin, "_main/missing")
	if _, _, err := FindBinaries(); err == nil || !strings.Contains(err.Error(), EnvConsumerBin) {
		t.Errorf("FindBinaries with a missing binary = %v", err)
	}
	t.Setenv("RUNFILES_DIR", "")

	t.Setenv(EnvAPIBin, "")
	t.Setenv(EnvConsumerBin, "")
	t.Setenv("TEST_SRCDIR", dir)
	if _, err := FindOrBuild(t.Context(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "under bazel test") {
		t.Errorf("FindOrBuild under Bazel without binaries = %v", err)
	}
}

// The backend endpoint serves the same state as the proxied one, without the
// PUT hook in between.
func TestBackendURLServesTheSameEmulator(t *testing.T) {
	e := startEmulator(t, nil)
	if e.BackendURL == "" || e.BackendURL == e.URL {
		t.Fatalf("BackendURL = %q next to URL %q", e.BackendURL, e.URL)
	}
	r, err := Provision(t.Context(), NewClients(e.URL), uniqueNames(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Depth(t.Context(), NewClients(e.BackendURL).SQS, r.QueueURL)
	if err != nil || d.Total() != 0 {
		t.Fatalf("the queue made through the proxy, read through the backend: %+v, %v", d, err)
	}
}

// With DeferConsumer only the api runs until StartConsumer, so a caller
// can fill the queue before anything receives from it.
func TestStackDefersTheConsumer(t *testing.T) {
	e := startEmulator(t, nil)
	var logs testkit.Buffer
	bin := fakeBinary(t)
	st, err := Start(t.Context(), Options{
		Emulator:      e,
		Names:         uniqueNames(t),
		Binaries:      Binaries{API: bin, Consumer: bin},
		APIEnv:        map[string]string{fakeEnv: "api"},
		ConsumerEnv:   map[string]string{fakeEnv: "consumer"},
		Logs:          &logs,
		DeferConsumer: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Consumer != nil || strings.Contains(logs.String(), "fake consumer") {
		t.Fatalf("consumer started before StartConsumer:\n%s", logs.String())
	}
	if _, err := st.StartConsumer(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "consumer | fake consumer listening") {
		t.Errorf("consumer did not start:\n%s", logs.String())
	}
}
