// Package ecsfake is an in-process Amazon ECS and Amazon ECR for tests of
// the deploy tool. It speaks the services' JSON protocol (awsJson1_1, the
// operation named by X-Amz-Target), so the real aws-sdk-go-v2 clients drive
// it, and it serves exactly the calls the tool makes: DescribeServices,
// DescribeTaskDefinition, RegisterTaskDefinition and UpdateService for ECS;
// DescribeImages and BatchGetImage for ECR.
//
// kumo, the emulator the rest of the project uses, answers neither
// DescribeServices nor DescribeTaskDefinition, and its deployments never
// move. Here a deployment moves IN_PROGRESS → COMPLETED or → FAILED only
// when the test calls Tick, following the Outcome the test planned for it,
// so a test decides exactly when a rollout ends.
//
// Task definitions are kept as the JSON the client sent, so a test can
// compare what the tool registered with what it read, field for field,
// including fields this package knows nothing about.
package ecsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Account and Region are those of every ARN the fake makes.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Target prefixes of the two services' operations.
const (
	ECSTarget = "AmazonEC2ContainerServiceV20141113."
	ECRTarget = "AmazonEC2ContainerRegistry_V20150921."
)

// Epoch is the fake's time at tick 0; each Tick adds TickDuration.
var Epoch = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// TickDuration is how much the fake's clock advances on each Tick.
const TickDuration = 15 * time.Second

// Outcome is how the next deployment of a service ends.
type Outcome struct {
	// Ticks is how many Ticks the deployment stays IN_PROGRESS (0: 1).
	Ticks int
	// Fail ends it FAILED, as the deployment circuit breaker does.
	Fail bool
	// Never keeps it IN_PROGRESS for ever, with no task starting.
	Never bool
}

// Fault is an error the fake answers with instead of serving a call.
type Fault struct {
	Code    string // e.g. ThrottlingException, AccessDeniedException
	Message string
	Status  int // 0: 400
}

// Server is a running fake. Its zero value is not usable; call New.
type Server struct {
	URL string

	srv *http.Server
	ln  net.Listener

	mu        sync.Mutex
	tick      int
	taskDefs  map[string][]*taskDef // family → revisions, index = revision-1
	services  map[string]*service   // cluster/name
	images    map[string]*Image     // repository@digest
	plans     map[string][]Outcome  // service name → next outcomes
	faults    map[string][]Fault    // operation → faults still to serve
	calls     []string
	deploySeq int
	eventSeq  int
}

type taskDef struct {
	body map[string]any // what RegisterTaskDefinition received, minus tags
	tags []any
	arn  string
}

type service struct {
	cluster, name string
	arn           string
	taskDef       string
	desired       int
	deployments   []*deployment // primary first
	events        []map[string]any
}

type deployment struct {
	id      string
	taskDef string
	desired int
	running int
	failed  int
	state   string // IN_PROGRESS, COMPLETED, FAILED
	reason  string
	outcome Outcome
	ticks   int
	created time.Time
	updated time.Time
}

// Image is an image in the fake ECR.
type Image struct {
	Repository string
	Digest     string // sha256:…
	Tags       []string
	MediaType  string // manifest media type; default OCI index
	Manifest   string // the manifest body BatchGetImage returns
	// Scan, when set, is the image's scan result.
	Scan *Scan
}

// Scan is a completed or pending ECR image scan.
type Scan struct {
	Status   string         // COMPLETE, IN_PROGRESS, FAILED…
	Findings map[string]int // severity → count, e.g. CRITICAL: 1
	// PendingTicks reports the scan IN_PROGRESS until that many Ticks.
	PendingTicks int
}

// New starts a fake on a free loopback port.
func New() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ecsfake: listen: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		ln:       ln,
		taskDefs: map[string][]*taskDef{},
		services: map[string]*service{},
		images:   map[string]*Image{},
		plans:    map[string][]Outcome{},
		faults:   map[string][]Fault{},
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Now is the fake's clock: Epoch plus one TickDuration per Tick.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return Epoch.Add(time.Duration(s.tick) * TickDuration) }

// Calls returns the operations served or refused so far, in order, as
// "ecs:DescribeServices" or "ecr:BatchGetImage".
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// CallCount returns how many times op ("ecs:UpdateService") was called.
func (s *Server) CallCount(op string) int {
	n := 0
	for _, c := range s.Calls() {
		if c == op {
			n++
		}
	}
	return n
}

// FailNext makes the next len(faults) calls of op ("ecs:DescribeServices")
// fail, one fault each, in order; a zero Fault lets its call through.
func (s *Server) FailNext(op string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], faults...)
}

// Plan queues how the next deployments of the named service end. A
// deployment with nothing planned completes after one Tick.
func (s *Server) Plan(serviceName string, outcomes ...Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[serviceName] = append(s.plans[serviceName], outcomes...)
}

// PutImage stores an image in the fake ECR.
func (s *Server) PutImage(img Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := img
	if c.MediaType == "" {
		c.MediaType = "application/vnd.oci.image.index.v1+json"
	}
	s.images[c.Repository+"@"+c.Digest] = &c
}

// RegisterJSON registers a task definition given as the JSON body of a
// RegisterTaskDefinition request (tags included) and returns its ARN.
func (s *Server) RegisterJSON(body string) (string, error) {
	var in map[string]any
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		return "", fmt.Errorf("ecsfake: task definition: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	td, err := s.register(in)
	if err != nil {
		return "", err
	}
	return td.arn, nil
}

// AddService creates a service running taskDefARN with desired tasks, its
// one deployment already COMPLETED.
func (s *Server) AddService(cluster, name, taskDefARN string, desired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.deploySeq++
	s.services[cluster+"/"+name] = &service{
		cluster: cluster, name: name,
		arn:     fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, cluster, name),
		taskDef: taskDefARN,
		desired: desired,
		deployments: []*deployment{{
			id: fmt.Sprintf("ecs-svc/%019d", s.deploySeq), taskDef: taskDefARN, desired: desired, running: desired,
			state: "COMPLETED", created: now, updated: now,
		}},
	}
}

// ServiceTaskDefinition returns the task definition ARN the service runs.
func (s *Server) ServiceTaskDefinition(cluster, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.services[cluster+"/"+name]; svc != nil {
		return svc.taskDef
	}
	return ""
}

// Revisions returns the number of revisions registered for family.
func (s *Server) Revisions(family string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.taskDefs[family])
}

// Registered returns the body and tags RegisterTaskDefinition received for
// family:revision, as decoded JSON.
func (s *Server) Registered(family string, revision int) (body map[string]any, tags []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	revs := s.taskDefs[family]
	if revision < 1 || revision > len(revs) {
		return nil, nil
	}
	td := revs[revision-1]
	return clone(td.body), clone(td.tags)
}

// Tick advances the fake's clock by TickDuration and every deployment in
// progress by one step of its Outcome.
func (s *Server) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick++
	now := s.now()
	names := make([]string, 0, len(s.services))
	for k := range s.services {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s.advance(s.services[k], now)
	}
}

func (s *Server) advance(svc *service, now time.Time) {
	d := svc.deployments[0]
	if d.state != "IN_PROGRESS" || d.outcome.Never {
		return
	}
	d.ticks++
	d.updated = now
	ticks := max(d.outcome.Ticks, 1)
	if d.outcome.Fail {
		d.failed++
		s.event(svc, now, fmt.Sprintf("(service %s) (deployment %s) deployment task %s stopped: Essential container in task exited", svc.name, d.id, s.taskID()))
		if d.ticks >= ticks {
			d.state = "FAILED"
			d.reason = "ECS deployment circuit breaker: tasks failed to start."
			s.event(svc, now, fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, d.id))
		}
		return
	}
	if d.ticks < ticks {
		if d.running < d.desired {
			d.running++
			s.event(svc, now, fmt.Sprintf("(service %s) has started 1 tasks: (task %s).", svc.name, s.taskID()))
		}
		return
	}
	if d.running < d.desired {
		s.event(svc, now, fmt.Sprintf("(service %s) has started %d tasks: (task %s).", svc.name, d.desired-d.running, s.taskID()))
	}
	d.running = d.desired
	d.state = "COMPLETED"
	svc.deployments = svc.deployments[:1]
	s.event(svc, now, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", svc.name, d.id))
	s.event(svc, now, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
}

func (s *Server) taskID() string {
	s.eventSeq++
	return fmt.Sprintf("%032x", s.eventSeq*7919)
}

func (s *Server) event(svc *service, now time.Time, msg string) {
	s.eventSeq++
	// Newest first, as ECS lists them.
	svc.events = append([]map[string]any{{
		"id": fmt.Sprintf("%08x-0000-4000-8000-%012x", s.eventSeq, s.eventSeq), "createdAt": epoch(now), "message": msg,
	}}, svc.events...)
}

// ServeHTTP serves one awsJson1_1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	var op string
	switch {
	case strings.HasPrefix(target, ECSTarget):
		op = "ecs:" + strings.TrimPrefix(target, ECSTarget)
	case strings.HasPrefix(target, ECRTarget):
		op = "ecr:" + strings.TrimPrefix(target, ECRTarget)
	default:
		writeError(w, Fault{Code: "UnknownOperationException", Message: "unknown target " + target})
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		writeError(w, Fault{Code: "SerializationException", Message: "want POST with application/x-amz-json-1.1"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, Fault{Code: "MissingAuthenticationTokenException", Message: "request is not signed", Status: 403})
		return
	}
	var in map[string]any
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeError(w, Fault{Code: "SerializationException", Message: err.Error()})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op)
	if f := s.faults[op]; len(f) > 0 {
		s.faults[op] = f[1:]
		if f[0].Code != "" {
			writeError(w, f[0])
			return
		}
	}
	handlers := map[string]func(map[string]any) (any, *Fault){
		"ecs:DescribeServices":       s.describeServices,
		"ecs:DescribeTaskDefinition": s.describeTaskDefinition,
		"ecs:RegisterTaskDefinition": s.registerTaskDefinition,
		"ecs:UpdateService":          s.updateService,
		"ecr:DescribeImages":         s.describeImages,
		"ecr:BatchGetImage":          s.batchGetImage,
	}
	h := handlers[op]
	if h == nil {
		writeError(w, Fault{Code: "UnknownOperationException", Message: op + " is not served by ecsfake"})
		return
	}
	out, fault := h(in)
	if fault != nil {
		writeError(w, *fault)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", f.Code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": f.Message})
}

func clientError(format string, args ...any) *Fault {
	return &Fault{Code: "ClientException", Message: fmt.Sprintf(format, args...)}
}

func str(in map[string]any, key string) string {
	v, _ := in[key].(string)
	return v
}

// readOnly are the fields ECS adds to a task definition; a client that
// sends them back gets a serialization error from real ECS, so the fake
// refuses them too.
var readOnly = []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt"}

func (s *Server) register(in map[string]any) (*taskDef, error) {
	family := str(in, "family")
	if family == "" {
		return nil, fmt.Errorf("family is required")
	}
	if cd, _ := in["containerDefinitions"].([]any); len(cd) == 0 {
		return nil, fmt.Errorf("containerDefinitions are required")
	}
	for _, k := range readOnly {
		if _, ok := in[k]; ok {
			return nil, fmt.Errorf("unknown field %q: it is read-only", k)
		}
	}
	body := clone(in)
	tags, _ := body["tags"].([]any)
	delete(body, "tags")
	rev := len(s.taskDefs[family]) + 1
	td := &taskDef{body: body, tags: tags, arn: fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, Account, family, rev)}
	s.taskDefs[family] = append(s.taskDefs[family], td)
	return td, nil
}

func (s *Server) describeTD(td *taskDef) map[string]any {
	out := clone(td.body)
	family := str(out, "family")
	rev := 0
	for i, t := range s.taskDefs[family] {
		if t == td {
			rev = i + 1
		}
	}
	out["taskDefinitionArn"] = td.arn
	out["revision"] = rev
	out["status"] = "ACTIVE"
	out["compatibilities"] = []string{"EC2", "FARGATE"}
	out["requiresAttributes"] = []map[string]string{{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}}
	out["registeredAt"] = epoch(Epoch)
	out["registeredBy"] = fmt.Sprintf("arn:aws:sts::%s:assumed-role/deploy/ci", Account)
	return out
}

// lookupTD resolves an ARN, family:revision or family (latest).
func (s *Server) lookupTD(ref string) *taskDef {
	if i := strings.Index(ref, ":task-definition/"); i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	family, revStr, hasRev := strings.Cut(ref, ":")
	revs := s.taskDefs[family]
	if len(revs) == 0 {
		return nil
	}
	if !hasRev {
		return revs[len(revs)-1]
	}
	var rev int
	if _, err := fmt.Sscanf(revStr, "%d", &rev); err != nil || rev < 1 || rev > len(revs) {
		return nil
	}
	return revs[rev-1]
}

func (s *Server) registerTaskDefinition(in map[string]any) (any, *Fault) {
	td, err := s.register(in)
	if err != nil {
		return nil, clientError("%v", err)
	}
	return map[string]any{"taskDefinition": s.describeTD(td), "tags": td.tags}, nil
}

func (s *Server) describeTaskDefinition(in map[string]any) (any, *Fault) {
	td := s.lookupTD(str(in, "taskDefinition"))
	if td == nil {
		return nil, clientError("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": s.describeTD(td)}
	if inc, _ := in["include"].([]any); len(inc) > 0 && inc[0] == "TAGS" {
		out["tags"] = td.tags
	}
	return out, nil
}

func (s *Server) describeServices(in map[string]any) (any, *Fault) {
	cluster := clusterName(str(in, "cluster"))
	names, _ := in["services"].([]any)
	services := []any{}
	failures := []any{}
	for _, n := range names {
		name, _ := n.(string)
		svc := s.services[cluster+"/"+name]
		if svc == nil {
			failures = append(failures, map[string]any{
				"arn": fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, cluster, name), "reason": "MISSING",
			})
			continue
		}
		services = append(services, s.describeService(svc))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (s *Server) describeService(svc *service) map[string]any {
	var deps []any
	running := 0
	for i, d := range svc.deployments {
		status := "ACTIVE"
		if i == 0 {
			status = "PRIMARY"
		}
		running += d.running
		dep := map[string]any{
			"id": d.id, "status": status, "taskDefinition": d.taskDef,
			"desiredCount": d.desired, "runningCount": d.running, "pendingCount": d.desired - d.running,
			"failedTasks": d.failed, "rolloutState": d.state,
			"createdAt": epoch(d.created), "updatedAt": epoch(d.updated), "launchType": "FARGATE",
		}
		if d.reason != "" {
			dep["rolloutStateReason"] = d.reason
		}
		deps = append(deps, dep)
	}
	events := make([]any, 0, len(svc.events))
	for _, e := range svc.events {
		events = append(events, e)
	}
	return map[string]any{
		"serviceName": svc.name, "serviceArn": svc.arn,
		"clusterArn":     fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, Account, svc.cluster),
		"status":         "ACTIVE",
		"taskDefinition": svc.taskDef, "desiredCount": svc.desired, "runningCount": running,
		"launchType": "FARGATE", "deployments": deps, "events": events,
		"deploymentConfiguration": map[string]any{
			"deploymentCircuitBreaker": map[string]any{"enable": true, "rollback": false},
			"maximumPercent":           200, "minimumHealthyPercent": 100,
		},
	}
}

func (s *Server) updateService(in map[string]any) (any, *Fault) {
	cluster := clusterName(str(in, "cluster"))
	svc := s.services[cluster+"/"+str(in, "service")]
	if svc == nil {
		return nil, &Fault{Code: "ServiceNotFoundException", Message: "Service not found."}
	}
	ref := str(in, "taskDefinition")
	if ref != "" {
		td := s.lookupTD(ref)
		if td == nil {
			return nil, clientError("TaskDefinition not found.")
		}
		if td.arn != svc.taskDef {
			now := s.now()
			outcome := Outcome{Ticks: 1}
			if plan := s.plans[svc.name]; len(plan) > 0 {
				outcome, s.plans[svc.name] = plan[0], plan[1:]
			}
			s.deploySeq++
			d := &deployment{
				id: fmt.Sprintf("ecs-svc/%019d", s.deploySeq), taskDef: td.arn, desired: svc.desired,
				state: "IN_PROGRESS", outcome: outcome, created: now, updated: now,
			}
			svc.taskDef = td.arn
			svc.deployments = append([]*deployment{d}, svc.deployments...)
		}
	}
	return map[string]any{"service": s.describeService(svc)}, nil
}

func (s *Server) describeImages(in map[string]any) (any, *Fault) {
	repo := str(in, "repositoryName")
	if !s.hasRepository(repo) {
		return nil, &Fault{Code: "RepositoryNotFoundException", Message: fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", repo, Account)}
	}
	ids, _ := in["imageIds"].([]any)
	var details []any
	for _, id := range ids {
		m, _ := id.(map[string]any)
		img := s.find(repo, m)
		if img == nil {
			return nil, &Fault{Code: "ImageNotFoundException", Message: fmt.Sprintf("The image with imageId {%s} does not exist within the repository with name '%s' in the registry with id '%s'", describeID(m), repo, Account)}
		}
		d := map[string]any{
			"registryId": Account, "repositoryName": repo, "imageDigest": img.Digest,
			"imageTags": img.Tags, "imageSizeInBytes": 4 << 20, "imagePushedAt": epoch(Epoch),
			"imageManifestMediaType": img.MediaType,
		}
		if img.Scan != nil && s.tick < img.Scan.PendingTicks {
			d["imageScanStatus"] = map[string]any{"status": "IN_PROGRESS"}
		} else if img.Scan != nil {
			d["imageScanStatus"] = map[string]any{"status": img.Scan.Status}
			if img.Scan.Status == "COMPLETE" {
				d["imageScanFindingsSummary"] = map[string]any{
					"imageScanCompletedAt": epoch(Epoch), "findingSeverityCounts": img.Scan.Findings,
				}
			}
		}
		details = append(details, d)
	}
	return map[string]any{"imageDetails": details}, nil
}

func (s *Server) batchGetImage(in map[string]any) (any, *Fault) {
	repo := str(in, "repositoryName")
	if !s.hasRepository(repo) {
		return nil, &Fault{Code: "RepositoryNotFoundException", Message: fmt.Sprintf("The repository with name '%s' does not exist", repo)}
	}
	ids, _ := in["imageIds"].([]any)
	images, failures := []any{}, []any{}
	for _, id := range ids {
		m, _ := id.(map[string]any)
		img := s.find(repo, m)
		if img == nil {
			failures = append(failures, map[string]any{"imageId": m, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"})
			continue
		}
		images = append(images, map[string]any{
			"registryId": Account, "repositoryName": repo,
			"imageId":       map[string]any{"imageDigest": img.Digest},
			"imageManifest": img.Manifest, "imageManifestMediaType": img.MediaType,
		})
	}
	return map[string]any{"images": images, "failures": failures}, nil
}

func (s *Server) hasRepository(repo string) bool {
	for _, img := range s.images {
		if img.Repository == repo {
			return true
		}
	}
	return false
}

func (s *Server) find(repo string, id map[string]any) *Image {
	if d := str(id, "imageDigest"); d != "" {
		return s.images[repo+"@"+d]
	}
	tag := str(id, "imageTag")
	for _, img := range s.images {
		if img.Repository == repo {
			for _, t := range img.Tags {
				if t == tag {
					return img
				}
			}
		}
	}
	return nil
}

func describeID(m map[string]any) string {
	if d := str(m, "imageDigest"); d != "" {
		return "imageDigest:'" + d + "'"
	}
	return "imageTag:'" + str(m, "imageTag") + "'"
}

func clusterName(ref string) string {
	if i := strings.LastIndex(ref, ":cluster/"); i >= 0 {
		return ref[i+len(":cluster/"):]
	}
	if ref == "" {
		return "default"
	}
	return ref
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// clone deep-copies decoded JSON.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
