// Package monitoring holds msgpipe's Prometheus rules, its Grafana dashboard
// and this test, which checks them against the services' real metrics: every
// PromQL expression parses, every metric it names is exported by a service
// (deploy/monitoring/metrics/*.txt, held to the real registries by each
// service's TestMetricsList) or recorded by recording.yml, every alert is
// complete and tested both ways, and every runbook link lands on a section
// of docs/operations.md.
package monitoring

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/devops-exam/msgpipe/deploy/monitoring/metricslist"
)

const (
	alertsFile    = "alerts.yml"
	recordingFile = "recording.yml"
	unitTestsFile = "tests/alerts_test.yml"
	dashboardFile = "dashboard.json"
	runbookFile   = "../../docs/operations.md"
	// runbookURL is where docs/operations.md is read; every runbook_url is
	// this plus an anchor.
	runbookURL = "https://github.com/devops-exam/msgpipe/blob/main/docs/operations.md#"
)

var metricLists = []string{"metrics/api.txt", "metrics/consumer.txt"}

// Series Prometheus itself adds to every scrape.
var scrapeSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func (r rule) name() string { return r.Alert + r.Record }

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func rules(t *testing.T, path string) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, path, &f)
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", path)
	}
	return out
}

// known returns every series name a query may use: the services' families
// with their histogram and summary series, the recorded series and the
// scrape's own.
func known(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, path := range metricLists {
		fams, err := metricslist.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(fams) == 0 {
			t.Fatalf("%s lists no metrics", path)
		}
		for _, f := range fams {
			names[f.Name] = true
			switch f.Type {
			case "histogram", "gauge_histogram":
				names[f.Name+"_bucket"], names[f.Name+"_sum"], names[f.Name+"_count"] = true, true, true
			case "summary":
				names[f.Name+"_sum"], names[f.Name+"_count"] = true, true
			}
		}
	}
	for _, r := range rules(t, recordingFile) {
		names[r.Record] = true
	}
	for _, n := range scrapeSeries {
		names[n] = true
	}
	return names
}

// checkExpr parses expr and returns a problem for every series it selects
// that no service exports and no rule records.
func checkExpr(expr string, known map[string]bool) []string {
	// Default options: only what a Prometheus without feature flags accepts.
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		switch {
		case name == "":
			problems = append(problems, fmt.Sprintf("%s selects no metric by name", vs))
		case !known[name]:
			problems = append(problems, fmt.Sprintf("uses %s, which no service exports and no rule records", name))
		}
		return nil
	})
	if len(problems) == 0 && strings.Contains(expr, "msgpipe") && !usesAny(e) {
		problems = append(problems, "selects no series")
	}
	return problems
}

func usesAny(e parser.Expr) bool {
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if _, ok := n.(*parser.VectorSelector); ok {
			found = true
		}
		return nil
	})
	return found
}

func TestRulesParseAndUseRealMetrics(t *testing.T) {
	k := known(t)
	for _, path := range []string{recordingFile, alertsFile} {
		seen := map[string]bool{}
		for _, r := range rules(t, path) {
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s: a rule must be an alert or a recording rule: %+v", path, r)
			}
			if r.Alert != "" && seen[r.Alert] {
				t.Errorf("%s: alert %s defined twice", path, r.Alert)
			}
			seen[r.Alert] = true
			for _, p := range checkExpr(r.Expr, k) {
				t.Errorf("%s: %s: %s", path, r.name(), p)
			}
		}
	}
}

// A query naming a metric no service exports is what this test exists to
// catch; make sure it does.
func TestCheckExprCatchesUnknownMetrics(t *testing.T) {
	k := map[string]bool{"msgpipe_api_http_requests_total": true}
	for expr, want := range map[string]string{
		`sum(rate(msgpipe_api_http_requests_total[5m]))`:         "",
		`sum(rate(msgpipe_api_http_request_total[5m]))`:          "uses msgpipe_api_http_request_total",
		`{__name__="msgpipe_api_renamed_total"}`:                 "uses msgpipe_api_renamed_total",
		`{job="msgpipe-api"}`:                                    "selects no metric by name",
		`sum(rate(msgpipe_api_http_requests_total[5m])`:          "does not parse",
		`msgpipe_api_http_requests_total / on() group_left(x) 1`: "",
	} {
		got := strings.Join(checkExpr(expr, k), "; ")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("checkExpr(%q) = %q, want %q", expr, got, want)
		}
	}
}

func TestAlertsAreCompleteAndLinkTheirRunbook(t *testing.T) {
	anchors := headingAnchors(t, runbookFile)
	for _, r := range rules(t, alertsFile) {
		if r.Alert == "" {
			t.Errorf("%s holds recording rule %s; recording rules live in %s", alertsFile, r.Record, recordingFile)
			continue
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookURL)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q does not point into docs/operations.md (%s…)", r.Alert, url, runbookURL)
		case !anchors[anchor]:
			t.Errorf("%s: runbook_url anchor #%s is no heading of %s", r.Alert, anchor, runbookFile)
		}
	}
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of
// path: lower case, punctuation dropped, spaces to hyphens, -1, -2 … for
// repeats.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	count := map[string]int{}
	fence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		a := slug(strings.TrimLeft(line, "#"))
		if n := count[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		count[a]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var notInSlug = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)

func slug(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = notInSlug.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

func TestSlugMatchesGitHub(t *testing.T) {
	for in, want := range map[string]string{
		" MsgpipeDeadLetterMessages":               "msgpipedeadlettermessages",
		" Rotating the token (SSM)":                "rotating-the-token-ssm",
		" Reading a message's trail: `request_id`": "reading-a-messages-trail-request_id",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// Every alert has a promtool case where it fires and one where it does not;
// promtool itself (.ci/monitoring.sh) checks the cases hold.
func TestEveryAlertIsUnitTestedBothWays(t *testing.T) {
	var ut unitTests
	readYAML(t, unitTestsFile, &ut)
	for _, want := range []string{"../" + alertsFile, "../" + recordingFile} {
		if !slices.Contains(ut.RuleFiles, want) {
			t.Errorf("%s does not load %s", unitTestsFile, want)
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range ut.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, r := range rules(t, alertsFile) {
		alerts[r.Alert] = true
		if !fires[r.Alert] {
			t.Errorf("%s: no unit test where it fires", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no unit test where it does not fire", r.Alert)
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which %s does not define", unitTestsFile, name, alertsFile)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("%s tests alert %s, which %s does not define", unitTestsFile, name, alertsFile)
		}
	}
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// Grafana's built-in interval variables, replaced by a duration before
// parsing. Any other variable is refused: it would hide what the query is.
var grafanaVar = regexp.MustCompile(`\$(?:\{)?(__rate_interval|__interval|__range)(?:\})?`)

func TestDashboardQueriesParseAndUseRealMetrics(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string  `json:"title"`
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q, uid %q: both are needed for provisioning", d.Title, d.UID)
	}
	k := known(t)
	var rows []string
	ids := map[int]bool{}
	queries := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				rows = append(rows, p.Title)
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				expr := grafanaVar.ReplaceAllString(tg.Expr, "5m")
				if strings.Contains(expr, "$") {
					t.Errorf("panel %q, query %s: unknown variable in %s", p.Title, tg.RefID, tg.Expr)
					continue
				}
				queries++
				for _, prob := range checkExpr(expr, k) {
					t.Errorf("panel %q, query %s: %s", p.Title, tg.RefID, prob)
				}
			}
		}
	}
	walk(d.Panels)
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	// One row per stage, in the order a message travels.
	want := []string{"API", "Token cache", "SQS publish", "Queue", "Consumer", "Process"}
	if len(rows) != len(want) {
		t.Fatalf("rows %q, want one per stage: %q", rows, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(rows[i], w) {
			t.Errorf("row %d is %q, want %q…", i, rows[i], w)
		}
	}
}

// The lists the checks above rely on are the ones the services' tests
// write: same directory, same format.
func TestMetricListsAreTheServicesOwn(t *testing.T) {
	for _, svc := range []string{"api", "consumer"} {
		path := filepath.Join("metrics", svc+".txt")
		if !slices.Contains(metricLists, path) {
			t.Errorf("%s is not checked", path)
		}
		fams, err := metricslist.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		prefix := "msgpipe_" + svc + "_"
		found := false
		for _, f := range fams {
			found = found || strings.HasPrefix(f.Name, prefix+"build_info")
		}
		if !found {
			t.Errorf("%s has no %sbuild_info: is it the %s's list?", path, prefix, svc)
		}
	}
}

// Service metrics deliberately on no panel and in no rule, with the reason.
// Anything else a service exports must be watched somewhere, so that a new
// metric does not go unused by the monitoring unnoticed.
var unwatched = map[string]string{
	"msgpipe_consumer_http_request_duration_seconds": "the consumer serves only /health and /metrics; their latency says nothing about the pipeline",
	"msgpipe_consumer_http_requests_in_flight":       "the same: in-flight /health and /metrics requests",
}

// seriesNames returns the names of the series expr selects; expr must parse.
func seriesNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
			out = append(out, vs.Name)
		}
		return nil
	})
	return out
}

// dashboardQueries returns every query of the dashboard, its Grafana
// interval variables replaced by a duration.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				out = append(out, grafanaVar.ReplaceAllString(tg.Expr, "5m"))
			}
		}
	}
	walk(d.Panels)
	return out
}

func TestEveryServiceMetricIsWatched(t *testing.T) {
	exprs := dashboardQueries(t)
	for _, path := range []string{recordingFile, alertsFile} {
		for _, r := range rules(t, path) {
			exprs = append(exprs, r.Expr)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range seriesNames(t, e) {
			used[name] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if fam, ok := strings.CutSuffix(name, suffix); ok {
					used[fam] = true
				}
			}
		}
	}
	exported := map[string]bool{}
	for _, path := range metricLists {
		fams, err := metricslist.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			exported[f.Name] = true
			if !strings.HasPrefix(f.Name, "msgpipe_") {
				continue
			}
			_, excused := unwatched[f.Name]
			switch {
			case excused && used[f.Name]:
				t.Errorf("%s is watched now: take it off the unwatched list", f.Name)
			case !excused && !used[f.Name]:
				t.Errorf("%s (%s) is on no dashboard panel and in no rule: add a panel (or an alert), or say in unwatched why not", f.Name, path)
			}
		}
	}
	for name := range unwatched {
		if !exported[name] {
			t.Errorf("unwatched names %s, which no service exports", name)
		}
	}
}
