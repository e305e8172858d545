package cli

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/devops-exam/msgpipe/tools/ecsdeploy/internal/ecsfake"
)

// The runs pasted into docs/deploy.md come from this test: against the
// ECS/ECR fake, verified against the real binaries on the emulator.
// Regenerate them with
//
//	ECSDEPLOY_WRITE_TRANSCRIPTS=1 go test -run TestTranscriptsInTheDocs ./tools/ecsdeploy/internal/cli
//
// Without the variable the test fails when the documented runs are no
// longer what the tool prints (message ids, dates and timings aside).
const docPath = "../../../../docs/deploy.md"

var transcripts = []struct {
	name  string
	plan  map[string]ecsfake.Outcome
	flags []string
	want  int
}{
	{"good", map[string]ecsfake.Outcome{"msgpipe-api": {Ticks: 3}, "msgpipe-consumer": {Ticks: 2}},
		[]string{"--require-scan", "--rollback-on-failure"}, ExitOK},
	{"rollback", map[string]ecsfake.Outcome{"msgpipe-api": {Ticks: 2, Fail: true}},
		[]string{"--require-scan", "--rollback-on-failure"}, ExitFailed},
}

// volatile are the parts of a run that differ every time: the check's
// message id, the date in its key, timings and the bucket's object count.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<message-id>"},
	{regexp.MustCompile(`messages/\d{4}/\d{2}/\d{2}/`), "messages/YYYY/MM/DD/"},
	{regexp.MustCompile(`~[0-9.]+ seconds`), "~N seconds"},
	{regexp.MustCompile(`\(\d+ objects? checked\)`), "(N objects checked)"},
	// Progress while the check waits for S3, printed only on a slow run.
	{regexp.MustCompile(`(?m)^ +Waiting\.\.\. \(\d+s / \d+s\)\n`), ""},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

func TestTranscriptsInTheDocs(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, tr := range transcripts {
		w := newWorld(t, nil)
		for svc, o := range tr.plan {
			w.fake.Plan(svc, o)
		}
		args := append(append([]string{}, tr.flags...), w.refs()...)
		w.expect(w.run(args...), tr.want)
		cmd := "$ bazel run //tools/ecsdeploy -- --cluster " + cluster + " " + strings.Join(tr.flags, " ") + " \\\n    " + strings.Join(w.refs(), " \\\n    ")
		got := fmt.Sprintf("%s\n%s$ echo $?\n%d\n", cmd, w.out.String(), tr.want)

		begin, end := "<!-- transcript:"+tr.name+" -->\n```text\n", "```\n<!-- /transcript:"+tr.name+" -->"
		i, j := strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			t.Fatalf("%s has no %q … %q section", docPath, begin, end)
		}
		documented := text[i+len(begin) : j]
		if os.Getenv("ECSDEPLOY_WRITE_TRANSCRIPTS") != "" {
			text = text[:i+len(begin)] + got + text[j:]
			continue
		}
		if normalize(documented) != normalize(got) {
			t.Errorf("the %s run in %s is not what the tool prints now; regenerate with ECSDEPLOY_WRITE_TRANSCRIPTS=1.\nnow:\n%s", tr.name, docPath, got)
		}
	}
	if os.Getenv("ECSDEPLOY_WRITE_TRANSCRIPTS") != "" {
		if err := os.WriteFile(docPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
