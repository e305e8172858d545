// Package deploy rolls a new image out to ECS services: it validates the
// image in ECR, renders the service's task definition with only that image
// changed, registers it, updates the service, waits for the deployment to
// be stable, verifies the system end to end and, when asked, rolls back to
// the previous revisions on failure. See docs/deploy.md.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECS is the part of the ECS client a deploy uses. docs/deploy-iam-policy.json
// grants exactly these calls (and the test of the policy checks it).
type ECS interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, opts ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, opts ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

// Verifier checks the deployed system end to end, writing its progress to
// out.
type Verifier interface {
	Verify(ctx context.Context, out io.Writer) error
}

// Clock is the deploy's time: how long things took and how it waits
// between polls. Tests inject one that advances instantly.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Target is one service to deploy.
type Target struct {
	Service   string // ECS service name
	Container string // the container whose image changes
	Image     ImageRef
}

// Defaults.
const (
	DefaultTimeout = 15 * time.Minute
	DefaultPoll    = 15 * time.Second
)

// Options are one deploy.
type Options struct {
	Cluster           string
	Targets           []Target
	RequireScan       bool
	DryRun            bool
	RollbackOnFailure bool
	Timeout           time.Duration // per wait for stability (DefaultTimeout)
	Poll              time.Duration // between DescribeServices calls (DefaultPoll)
	Verify            Verifier      // nil: not verified
}

// Deployer runs deploys.
type Deployer struct {
	ECS   ECS
	ECR   ECR
	Clock Clock     // nil: RealClock
	Out   io.Writer // progress and the summary; nil: discarded
}

// ServiceResult is what happened to one service.
type ServiceResult struct {
	Service     string
	Image       ImageRef
	OldRevision string // family:revision before the deploy
	NewRevision string // family:revision registered; = OldRevision when unchanged
	Changed     bool
	Updated     bool // the service was moved to NewRevision
	RolledBack  bool
}

// Result is what a deploy did.
type Result struct {
	Services []ServiceResult
	// Stable is how long the rollout took to be stable; 0 when it was not
	// or nothing changed.
	Stable time.Duration
	// Verify is "passed", "FAILED", "skipped" or "not run".
	Verify string
}

// plan is one service's deploy, from reading to rollback.
type plan struct {
	ServiceResult
	target   Target
	current  *ecstypes.TaskDefinition
	tags     []ecstypes.Tag
	oldImage string
	oldARN   string
	newARN   string
	render   *ecs.RegisterTaskDefinitionInput
	seen     map[string]bool
	lastLine string
}

// Run deploys, printing progress and, last, a one-line summary. The error
// is an *Error whose Kind says what state the services are in.
func (d *Deployer) Run(ctx context.Context, opts Options) (Result, error) {
	if d.Clock == nil {
		d.Clock = RealClock{}
	}
	if d.Out == nil {
		d.Out = io.Discard
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	res := Result{Verify: "not run"}
	plans, err := d.run(ctx, opts, &res)
	for _, p := range plans {
		res.Services = append(res.Services, p.ServiceResult)
	}
	d.summary(opts, res, err)
	return res, err
}

func (d *Deployer) printf(format string, args ...any) { fmt.Fprintf(d.Out, format, args...) }

func (d *Deployer) run(ctx context.Context, opts Options, res *Result) ([]*plan, error) {
	if opts.Cluster == "" {
		return nil, usageErr("no cluster: pass --cluster or set ECS_CLUSTER")
	}
	if len(opts.Targets) == 0 {
		return nil, usageErr("no images to deploy: pass the <repository>@sha256:<digest> lines `bazel run //images:push` printed")
	}
	plans := make([]*plan, len(opts.Targets))
	for i, t := range opts.Targets {
		plans[i] = &plan{target: t, ServiceResult: ServiceResult{Service: t.Service, Image: t.Image}}
	}

	// 1. Validate every image before touching anything.
	d.printf("[1/5] Validating images in ECR\n")
	checked := make([]validated, len(plans))
	for i, p := range plans {
		v, err := d.validateImage(ctx, p.target.Image, opts)
		if err != nil {
			return plans, err
		}
		checked[i] = v
		extra := ""
		if len(v.platforms) > 0 {
			extra = " [" + strings.Join(v.platforms, " ") + "]"
		}
		if opts.RequireScan {
			extra += ", scan clean"
		}
		d.printf("      %s: %s found%s\n", p.Service, p.target.Image, extra)
	}

	// 2. Render each new revision from the running one.
	d.printf("[2/5] Rendering task definitions (cluster %s)\n", opts.Cluster)
	if err := d.read(ctx, opts.Cluster, plans); err != nil {
		return plans, err
	}
	for i, p := range plans {
		if err := checkPlatform(p.current, checked[i].platforms); err != nil {
			return plans, imageErr("%s: %v", p.Service, err)
		}
		in, changed, err := Render(p.current, p.tags, p.target.Container, p.target.Image.String())
		if err != nil {
			return plans, usageErr("%s: %v", p.Service, err)
		}
		p.render, p.Changed = in, changed
		if changed {
			d.printf("      %s: %s, container %s → %s\n", p.Service, p.OldRevision, p.target.Container, p.target.Image.Digest)
		} else {
			d.printf("      %s: %s already runs %s: no new revision\n", p.Service, p.OldRevision, p.target.Image.Digest)
		}
	}
	if opts.DryRun {
		for _, p := range plans {
			if p.Changed {
				old, _, _ := Render(p.current, p.tags, p.target.Container, p.oldImage)
				writeDiff(d.Out, p.OldRevision, aws.ToString(p.current.Family)+":(new)", view(old), view(p.render), 3)
			}
		}
		d.printf("Dry run: nothing registered, no service changed.\n")
		return plans, nil
	}

	// 3. Register and update.
	d.printf("[3/5] Registering and updating services\n")
	var changed []*plan
	for _, p := range plans {
		if !p.Changed {
			continue
		}
		out, err := d.ECS.RegisterTaskDefinition(ctx, p.render)
		if err != nil {
			return plans, d.afterChange(ctx, opts, changed, awsErr(err, "ecs:RegisterTaskDefinition %s", aws.ToString(p.render.Family)))
		}
		p.newARN = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		p.NewRevision = revision(p.newARN)
		d.printf("      %s: registered %s\n", p.Service, p.NewRevision)
		changed = append(changed, p)
		if _, err := d.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(opts.Cluster), Service: aws.String(p.Service), TaskDefinition: aws.String(p.newARN),
		}); err != nil {
			return plans, d.afterChange(ctx, opts, changed, awsErr(err, "ecs:UpdateService %s", p.Service))
		}
		p.Updated = true
		d.printf("      %s: service updated to %s\n", p.Service, p.NewRevision)
	}

	// 4. Wait.
	start := d.Clock.Now()
	if len(changed) == 0 {
		d.printf("[4/5] Nothing changed: every service already runs its image\n")
	} else {
		d.printf("[4/5] Waiting for stability (timeout %s, polling every %s)\n", opts.Timeout, opts.Poll)
		if err := d.wait(ctx, opts, changed, func(p *plan) string { return p.newARN }); err != nil {
			return plans, d.afterChange(ctx, opts, changed, err)
		}
		res.Stable = d.Clock.Now().Sub(start)
		d.printf("      stable after %s\n", round(res.Stable))
	}

	// 5. Verify.
	if opts.Verify == nil {
		d.printf("[5/5] Verification skipped (--verify=false)\n")
		res.Verify = "skipped"
		return plans, nil
	}
	d.printf("[5/5] Verifying the deployment end to end\n")
	if err := opts.Verify.Verify(ctx, &indent{w: d.Out, at: true}); err != nil {
		res.Verify = "FAILED"
		return plans, d.afterChange(ctx, opts, changed, &Error{Kind: KindFailed, Err: fmt.Errorf("verification failed: %w", err)})
	}
	res.Verify = "passed"
	return plans, nil
}

// read fills in each plan's current task definition, from the service's
// primary deployment.
func (d *Deployer) read(ctx context.Context, cluster string, plans []*plan) error {
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = p.Service
	}
	out, err := d.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names})
	if err != nil {
		return awsErr(err, "ecs:DescribeServices %s in cluster %s", strings.Join(names, ", "), cluster)
	}
	if len(out.Failures) > 0 {
		var missing []string
		for _, f := range out.Failures {
			missing = append(missing, fmt.Sprintf("%s (%s)", aws.ToString(f.Arn), aws.ToString(f.Reason)))
		}
		return &Error{Kind: KindAWS, Err: fmt.Errorf("services not found in cluster %s: %s", cluster, strings.Join(missing, ", "))}
	}
	byName := map[string]ecstypes.Service{}
	for _, s := range out.Services {
		byName[aws.ToString(s.ServiceName)] = s
	}
	for _, p := range plans {
		svc, ok := byName[p.Service]
		if !ok {
			return &Error{Kind: KindAWS, Err: fmt.Errorf("service %s not found in cluster %s", p.Service, cluster)}
		}
		p.oldARN = aws.ToString(svc.TaskDefinition)
		p.seen = map[string]bool{}
		for _, e := range svc.Events {
			p.seen[aws.ToString(e.Id)] = true // history: not this deploy's news
		}
		td, err := d.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(p.oldARN), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
		})
		if err != nil {
			return awsErr(err, "ecs:DescribeTaskDefinition %s", p.oldARN)
		}
		p.current, p.tags = td.TaskDefinition, td.Tags
		for _, c := range p.current.ContainerDefinitions {
			if aws.ToString(c.Name) == p.target.Container {
				p.oldImage = aws.ToString(c.Image)
			}
		}
		p.OldRevision = revision(p.oldARN)
		p.NewRevision = p.OldRevision
	}
	return nil
}

// wait polls until every plan's deployment of want(p) is COMPLETED with
// its tasks running, one FAILED, or the timeout passes. It prints counts
// when they change and each new service event once.
func (d *Deployer) wait(ctx context.Context, opts Options, plans []*plan, want func(*plan) string) error {
	deadline := d.Clock.Now().Add(opts.Timeout)
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = p.Service
	}
	for {
		out, err := d.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(opts.Cluster), Services: names})
		if err != nil {
			return awsErr(err, "ecs:DescribeServices while waiting")
		}
		done := 0
		var failed []string
		for _, p := range plans {
			svc, ok := find(out.Services, p.Service)
			if !ok {
				return &Error{Kind: KindFailed, Err: fmt.Errorf("service %s disappeared from cluster %s", p.Service, opts.Cluster)}
			}
			d.events(p, svc)
			state, detail := deploymentState(svc, want(p))
			line := fmt.Sprintf("      %s: %s", p.Service, detail)
			if line != p.lastLine {
				d.printf("%s\n", line)
				p.lastLine = line
			}
			switch state {
			case stateDone:
				done++
			case stateFailed:
				failed = append(failed, p.Service+": "+detail)
			}
		}
		if len(failed) > 0 {
			return &Error{Kind: KindFailed, Err: fmt.Errorf("deployment failed: %s", strings.Join(failed, "; "))}
		}
		if done == len(plans) {
			return nil
		}
		if !d.Clock.Now().Before(deadline) {
			return &Error{Kind: KindFailed, Err: fmt.Errorf("not stable within --timeout %s (%s)", opts.Timeout, strings.TrimSpace(lastLines(plans)))}
		}
		if err := d.Clock.Sleep(ctx, opts.Poll); err != nil {
			return &Error{Kind: KindFailed, Err: fmt.Errorf("interrupted while waiting: %w", err)}
		}
	}
}

type state int

const (
	stateWaiting state = iota
	stateDone
	stateFailed
)

// deploymentState judges the service's deployment of taskDef.
func deploymentState(svc ecstypes.Service, taskDef string) (state, string) {
	var dep *ecstypes.Deployment
	for i := range svc.Deployments {
		dd := &svc.Deployments[i]
		if aws.ToString(dd.TaskDefinition) == taskDef && (dep == nil || aws.ToString(dd.Status) == "PRIMARY") {
			dep = dd
		}
	}
	if dep == nil {
		return stateFailed, fmt.Sprintf("no deployment of %s any more: the service now runs %s (another deploy?)", revision(taskDef), revision(aws.ToString(svc.TaskDefinition)))
	}
	counts := fmt.Sprintf("%s %s, running %d/%d, pending %d, failed tasks %d", revision(taskDef), dep.RolloutState,
		dep.RunningCount, dep.DesiredCount, dep.PendingCount, dep.FailedTasks)
	if r := aws.ToString(dep.RolloutStateReason); r != "" && dep.RolloutState == ecstypes.DeploymentRolloutStateFailed {
		counts += ": " + r
	}
	switch {
	case dep.RolloutState == ecstypes.DeploymentRolloutStateFailed:
		return stateFailed, counts
	case aws.ToString(dep.Status) != "PRIMARY":
		return stateFailed, counts + " (no longer the primary deployment)"
	case dep.RolloutState == ecstypes.DeploymentRolloutStateCompleted && dep.RunningCount == dep.DesiredCount:
		return stateDone, counts
	}
	return stateWaiting, counts
}

// events prints the service's events not seen before, oldest first.
func (d *Deployer) events(p *plan, svc ecstypes.Service) {
	for i := len(svc.Events) - 1; i >= 0; i-- {
		e := svc.Events[i]
		id := aws.ToString(e.Id)
		if p.seen[id] {
			continue
		}
		p.seen[id] = true
		at := ""
		if e.CreatedAt != nil {
			at = e.CreatedAt.UTC().Format("15:04:05") + " "
		}
		d.printf("      %sevent: %s\n", at, aws.ToString(e.Message))
	}
}

// afterChange handles a failure once something may have changed: with
// --rollback-on-failure every updated service goes back to its previous
// revision and is waited for.
func (d *Deployer) afterChange(ctx context.Context, opts Options, changed []*plan, cause error) error {
	var updated []*plan
	for _, p := range changed {
		if p.Updated {
			updated = append(updated, p)
		}
	}
	var e *Error
	if !errors.As(cause, &e) {
		e = &Error{Kind: KindFailed, Err: cause}
	}
	if len(updated) == 0 {
		return e // no service runs a new revision: nothing to undo
	}
	d.printf("FAILED: %v\n", cause)
	if !opts.RollbackOnFailure {
		for _, p := range updated {
			d.printf("      %s stays on %s; roll back by hand: aws ecs update-service --cluster %s --service %s --task-definition %s\n",
				p.Service, p.NewRevision, opts.Cluster, p.Service, p.OldRevision)
		}
		if e.Kind == KindAWS {
			return &Error{Kind: KindRollback, Err: e.Err}
		}
		return e
	}
	d.printf("[rollback] Putting %d service(s) back on their previous revisions\n", len(updated))
	// The rollback's own calls must not be cut short by the context that
	// may have ended the deploy (Ctrl-C, a CI timeout): bounded instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Timeout+time.Minute)
	defer cancel()
	for _, p := range updated {
		if _, err := d.ECS.UpdateService(rctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(opts.Cluster), Service: aws.String(p.Service), TaskDefinition: aws.String(p.oldARN),
		}); err != nil {
			return &Error{Kind: KindRollback, Err: fmt.Errorf("%v; then the rollback failed: %w%s", cause, err, Hint(err))}
		}
		p.lastLine = ""
		d.printf("      %s: service updated back to %s\n", p.Service, p.OldRevision)
	}
	if err := d.wait(rctx, opts, updated, func(p *plan) string { return p.oldARN }); err != nil {
		return &Error{Kind: KindRollback, Err: fmt.Errorf("%v; then the rollback did not become stable: %w", cause, err)}
	}
	for _, p := range updated {
		p.RolledBack = true
	}
	d.printf("      rolled back: every service is stable on its previous revision\n")
	return &Error{Kind: KindFailed, Err: fmt.Errorf("%w (rolled back)", e.Err)}
}

// summary prints the last line: revisions, digests, time to stable and
// the verification, whatever happened.
func (d *Deployer) summary(opts Options, res Result, err error) {
	verdict := "deploy succeeded"
	switch {
	case err != nil:
		verdict = "deploy FAILED"
	case opts.DryRun:
		verdict = "dry run"
	}
	var parts []string
	for _, s := range res.Services {
		switch {
		case s.OldRevision == "":
			parts = append(parts, fmt.Sprintf("%s %s (not read)", s.Service, s.Image.ShortDigest()))
		case s.RolledBack:
			parts = append(parts, fmt.Sprintf("%s %s → %s → rolled back to %s (%s)", s.Service, s.OldRevision, s.NewRevision, s.OldRevision, s.Image.ShortDigest()))
		case !s.Changed:
			parts = append(parts, fmt.Sprintf("%s %s unchanged (%s)", s.Service, s.OldRevision, s.Image.ShortDigest()))
		case !opts.DryRun && s.NewRevision != s.OldRevision && !s.Updated:
			parts = append(parts, fmt.Sprintf("%s %s (%s registered, not deployed) (%s)", s.Service, s.OldRevision, s.NewRevision, s.Image.ShortDigest()))
		case opts.DryRun || s.NewRevision == s.OldRevision:
			parts = append(parts, fmt.Sprintf("%s %s → (new) (%s)", s.Service, s.OldRevision, s.Image.ShortDigest()))
		default:
			parts = append(parts, fmt.Sprintf("%s %s → %s (%s)", s.Service, s.OldRevision, s.NewRevision, s.Image.ShortDigest()))
		}
	}
	stable := "stable: not reached"
	switch {
	case res.Stable > 0:
		stable = "stable in " + round(res.Stable).String()
	case err == nil && !opts.DryRun:
		stable = "stable: nothing to wait for"
	case opts.DryRun:
		stable = "stable: n/a"
	}
	if err != nil {
		d.printf("error: %v\n", err)
	}
	d.printf("%s: %s; %s; verify %s\n", verdict, strings.Join(parts, ", "), stable, res.Verify)
}

func find(services []ecstypes.Service, name string) (ecstypes.Service, bool) {
	for _, s := range services {
		if aws.ToString(s.ServiceName) == name {
			return s, true
		}
	}
	return ecstypes.Service{}, false
}

func lastLines(plans []*plan) string {
	var b strings.Builder
	for _, p := range plans {
		b.WriteString(strings.TrimSpace(p.lastLine))
		b.WriteString("; ")
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// revision shortens a task definition ARN to family:revision.
func revision(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// indent prefixes every non-empty line written through it, so the
// verification's output nests under step 5.
type indent struct {
	w  io.Writer
	at bool // at the start of a line
}

func (i *indent) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, c := range string(p) {
		if i.at && c != '\n' {
			b.WriteString("      ")
		}
		b.WriteRune(c)
		i.at = c == '\n'
	}
	if _, err := io.WriteString(i.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
