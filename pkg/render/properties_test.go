package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

var allFormats = []Format{Text, JSON, Markdown}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"text", "json", "markdown"} {
		f, err := ParseFormat(s)
		if err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "JSON", "md", "yaml"} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q): no error", s)
		}
	}
	if err := Plan(&bytes.Buffer{}, emptyPlan(), "yaml", Options{}); err == nil {
		t.Error("Plan with an unknown format: no error")
	}
	if err := Report(&bytes.Buffer{}, doneReport(), "yaml", Options{}); err == nil {
		t.Error("Report with an unknown format: no error")
	}
}

func TestSymbol(t *testing.T) {
	want := map[plan.Action]string{
		plan.Create: "+", plan.Adopt: "<=", plan.Update: "~", plan.Replace: "-/+",
		plan.Delete: "-", plan.Assign: "+", plan.Unassign: "-", plan.Action(99): "?",
	}
	got := map[plan.Action]string{}
	for a := range want {
		got[a] = Symbol(a)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Symbol (-want +got):\n%s", diff)
	}
}

func TestUseColor(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	tests := []struct {
		name     string
		terminal bool
		flag     bool
		env      map[string]string
		want     bool
	}{
		{"terminal", true, false, nil, true},
		{"not a terminal", false, false, nil, false},
		{"--no-color", true, true, nil, false},
		{"NO_COLOR=1", true, false, map[string]string{"NO_COLOR": "1"}, false},
		{"NO_COLOR=0 still disables", true, false, map[string]string{"NO_COLOR": "0"}, false},
		// no-color.org: "present and not an empty string".
		{"NO_COLOR empty", true, false, map[string]string{"NO_COLOR": ""}, true},
		{"other variables", true, false, map[string]string{"TERM": "dumb"}, true},
	}
	for _, tt := range tests {
		if got := UseColor(tt.terminal, tt.flag, env(tt.env)); got != tt.want {
			t.Errorf("%s: UseColor = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !UseColor(true, false, nil) {
		t.Error("UseColor with a nil env: false")
	}
}

// everyOutput renders every scenario in every format with and without
// colour, reports and progress included, and calls check on each.
func everyOutput(t *testing.T, check func(t *testing.T, name string, f Format, o Options, out string)) {
	t.Helper()
	plans := append([]planScenario{}, planScenarios...)
	plans = append(plans, planScenario{name: "hostile", plan: hostilePlan})
	for _, color := range []bool{false, true} {
		o := Options{Color: color}
		for _, s := range plans {
			for _, f := range allFormats {
				check(t, "plan/"+s.name, f, o, string(renderPlan(t, s.plan(), f, o)))
			}
		}
		reports := append([]reportScenario{}, reportScenarios...)
		reports = append(reports, reportScenario{"sensitive", sensitiveReport})
		for _, s := range reports {
			for _, f := range allFormats {
				check(t, "report/"+s.name, f, o, string(renderReport(t, s.report(), f, o)))
			}
		}
		for _, live := range []bool{false, true} {
			var b bytes.Buffer
			r := sensitiveReport()
			p := newProgress(&b, len(r.Results), o, live, time.Now, 0)
			for _, res := range r.Results {
				p.Event(apply.Event{Kind: apply.EventStarted, Result: apply.Result{Change: res.Change}})
				p.Event(apply.Event{Kind: apply.EventProgress, Result: apply.Result{Change: res.Change}, Message: "working"})
				p.Event(apply.Event{Kind: apply.EventFinished, Result: res})
			}
			p.Close()
			check(t, fmt.Sprintf("progress/live=%v", live), Text, o, b.String())
		}
	}
}

// sensitiveReport applies the sensitive plan, one change failing with an
// error that does not quote the body.
func sensitiveReport() *apply.Report {
	r := &apply.Report{Parallelism: 2, Elapsed: ms(30)}
	for i, c := range sensitivePlan().Changes {
		res := apply.Result{Change: c, Status: apply.Done, Duration: ms(10)}
		if i == 1 {
			res.Status, res.Error = apply.Failed, `update script "api-token": 400 Bad Request: body too long`
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// hostilePlan has names, reasons and bodies that try to break out: escape
// sequences, Markdown and HTML, table pipes, backticks and fences.
func hostilePlan() *plan.Plan {
	p := emptyPlan()
	name := "evil|`name`<img src=x onerror=alert(1)>\x1b[31m@everyone #1 *bold* [link](http://x)"
	body := "echo hi\n```\n</details>\n<script>alert(1)</script>\n\x1b]0;title\x07\n"
	p.Changes = []plan.Change{
		{Key: "script/" + name, Kind: plan.KindScript, Action: plan.Update, Name: name, ID: "scr|1",
			Reasons: []string{"body changed\x1b[2J", "a | b `c`"},
			Before:  script(name, "echo hi\n", false, true), After: script(name, body, false, true)},
		{Key: "script/x", Kind: plan.KindScript, Action: plan.Delete, Name: "line\nbreak", ID: "scr_2",
			Before: script("line\nbreak", "x\n", false, true), AffectedMachines: []string{"m\x1b[0m1"}},
	}
	p.Unmanaged = []plan.Unmanaged{{Kind: plan.KindScript, Name: "<b>un</b>|managed", ID: "u`1"}}
	p.Findings = []plan.Finding{{Rule: plan.RulePreventDestroy, Keys: []string{"script/x"}, Message: "no <i>way</i> | \x1b[1m", Override: "--allow-destroy"}}
	return p
}

func TestNoSensitiveBodyInAnyOutput(t *testing.T) {
	secrets := []string{secret, "API_TOKEN=", "example.com/"}
	everyOutput(t, func(t *testing.T, name string, f Format, o Options, out string) {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s %s (color %v) shows a sensitive body (%q):\n%s", name, f, o.Color, s, out)
			}
		}
	})
}

func TestColorOnlyWhenAsked(t *testing.T) {
	everyOutput(t, func(t *testing.T, name string, f Format, o Options, out string) {
		has := strings.Contains(out, "\x1b")
		switch {
		case has && (!o.Color || f != Text):
			t.Errorf("%s %s (color %v) has an escape code:\n%q", name, f, o.Color, out)
		case !has && o.Color && f == Text && out != "" && !strings.HasPrefix(name, "report/empty"):
			t.Errorf("%s %s with color has no colour:\n%s", name, f, out)
		}
	})
}

func TestHostileTextIsInert(t *testing.T) {
	md := string(renderPlan(t, hostilePlan(), Markdown, Options{}))
	for _, bad := range []string{"<img", "<script>", "<b>", "<i>", "@everyone", "[link]", "*bold*"} {
		// The body diff is inside a code fence, where it is inert text.
		outside := regexp.MustCompile("(?s)\n(````+)diff\n.*?\n````+\n").ReplaceAllString(md, "\n")
		if strings.Contains(outside, bad) {
			t.Errorf("markdown shows %q unescaped outside the code fence:\n%s", bad, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| `") {
			if n := strings.Count(line, "|"); n != 6 {
				t.Errorf("table row has %d pipes, want 6 (an unescaped pipe splits a cell): %s", n, line)
			}
		}
	}
	// The body holds a ``` line: the fence must be longer.
	if !strings.Contains(md, "\n````diff\n") {
		t.Errorf("the diff fence is not longer than the body's backtick run:\n%s", md)
	}
	if strings.Count(md, "<details>") != strings.Count(md, "</details>")-1 { // one is in the body
		t.Errorf("unbalanced <details>:\n%s", md)
	}
	txt := string(renderPlan(t, hostilePlan(), Text, Options{}))
	for _, want := range []string{`\x1b[31m`, `\x1b]0;title\a`, `"line\nbreak"`} {
		if !strings.Contains(txt, want) {
			t.Errorf("text does not show %q escaped:\n%s", want, txt)
		}
	}
}

// checkMarkdown asserts what every Markdown plan must be: under the limit,
// marked, with balanced blocks, and saying when it leaves something out.
func checkMarkdown(t *testing.T, out string, limit int, wantTruncated bool) {
	t.Helper()
	if len(out) > limit {
		t.Errorf("markdown is %d bytes, over the limit %d", len(out), limit)
	}
	if !strings.HasPrefix(out, MarkdownPlanMarker+"\n") {
		t.Errorf("markdown does not start with the marker:\n%.200s", out)
	}
	if o, c := strings.Count(out, "<details>"), strings.Count(out, "</details>"); o != c {
		t.Errorf("%d <details> but %d </details>", o, c)
	}
	truncated := strings.Contains(out, "Run `psync plan` locally")
	if truncated != wantTruncated {
		t.Errorf("truncation note present = %v, want %v (%d bytes, limit %d)", truncated, wantTruncated, len(out), limit)
	}
}

func TestMarkdownStaysUnderTheLimit(t *testing.T) {
	plans := map[string]*plan.Plan{
		"many diffs":      hugePlan(150, 40),
		"many rows":       hugePlan(1200, 1),
		"one long script": hugePlan(1, 4000),
	}
	for name, p := range plans {
		for _, limit := range []int{1500, 20000, 0} {
			var b bytes.Buffer
			if err := Plan(&b, p, Markdown, Options{MaxMarkdownBytes: limit}); err != nil {
				t.Fatal(err)
			}
			if limit == 0 {
				limit = DefaultMaxMarkdownBytes
			}
			t.Run(fmt.Sprintf("%s/%d", name, limit), func(t *testing.T) {
				checkMarkdown(t, b.String(), limit, true)
			})
		}
	}
	// Unmanaged objects go before table rows.
	strays := hugePlan(2, 5)
	for i := range 3000 {
		strays.Unmanaged = append(strays.Unmanaged, plan.Unmanaged{Kind: plan.KindScript, Name: fmt.Sprintf("stray-%d", i), ID: fmt.Sprint(i)})
	}
	out := string(renderPlan(t, strays, Markdown, Options{}))
	checkMarkdown(t, out, DefaultMaxMarkdownBytes, true)
	if !regexp.MustCompile(`leaves out 2 of 2 body diffs, \d+ of 3001 unmanaged objects \(`).MatchString(out) ||
		!strings.Contains(out, "<code>job-0001</code> → ") {
		t.Errorf("unmanaged objects are not cut before rows and after diffs:\n%.2000s", out)
	}
	// A plan that fits is whole.
	for _, s := range planScenarios {
		if s.name == "huge" {
			continue
		}
		checkMarkdown(t, string(renderPlan(t, s.plan(), Markdown, Options{})), DefaultMaxMarkdownBytes, false)
	}
	// The one long script keeps the start of its diff.
	out = string(renderPlan(t, hugePlan(1, 4000), Markdown, Options{MaxMarkdownBytes: 20000}))
	if !strings.Contains(out, "… diff truncated here") || !strings.Contains(out, "leaves out the end of one body diff (") {
		t.Errorf("a single huge diff is not partly shown:\n%.3000s", out)
	}
}

func TestMarkdownLimitRandomPlans(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		p := hugePlan(1+rng.IntN(200), 1+rng.IntN(40))
		if rng.IntN(2) == 0 {
			p.Findings = refusedPlan().Findings
		}
		limit := 1200 + rng.IntN(80000)
		var b bytes.Buffer
		if err := Plan(&b, p, Markdown, Options{MaxMarkdownBytes: limit}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if len(out) > limit {
			t.Fatalf("case %d: %d bytes over the limit %d", i, len(out), limit)
		}
		full := string(renderPlan(t, p, Markdown, Options{MaxMarkdownBytes: 1 << 30}))
		checkMarkdown(t, out, limit, len(full) > limit)
	}
}

func TestJSONPlanRoundTrips(t *testing.T) {
	for _, s := range planScenarios {
		t.Run(s.name, func(t *testing.T) {
			p := s.plan()
			dec := json.NewDecoder(bytes.NewReader(renderPlan(t, p, JSON, Options{})))
			dec.DisallowUnknownFields()
			var got JSONPlan
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("decode into JSONPlan: %v", err)
			}
			want := NewJSONPlan(p)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.FormatVersion != PlanFormatVersion || got.Summary.Total != len(p.Changes) || got.Refused != p.Refused() {
				t.Errorf("formatVersion %d, total %d, refused %v", got.FormatVersion, got.Summary.Total, got.Refused)
			}
			if len(got.Changes) != len(p.Changes) || len(got.Unmanaged) != len(p.Unmanaged) || len(got.Findings) != len(p.Findings) {
				t.Errorf("lost entries: %d/%d changes, %d/%d unmanaged, %d/%d findings",
					len(got.Changes), len(p.Changes), len(got.Unmanaged), len(p.Unmanaged), len(got.Findings), len(p.Findings))
			}
		})
	}
	// Non-sensitive bodies are there for programs.
	got := NewJSONPlan(updatesPlan())
	if b := got.Changes[0].After.Body; b == nil || *b != setupNew {
		t.Errorf("updated body = %v, want the new body", b)
	}
}

func TestJSONReportRoundTrips(t *testing.T) {
	for _, s := range reportScenarios {
		t.Run(s.name, func(t *testing.T) {
			r := s.report()
			dec := json.NewDecoder(bytes.NewReader(renderReport(t, r, JSON, Options{})))
			dec.DisallowUnknownFields()
			var got JSONReport
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("decode into JSONReport: %v", err)
			}
			if diff := cmp.Diff(NewJSONReport(r), got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.Totals.Total != len(r.Results) || got.OK != r.OK() || got.ElapsedMs != r.Elapsed.Milliseconds() {
				t.Errorf("totals %+v, ok %v, elapsed %d", got.Totals, got.OK, got.ElapsedMs)
			}
		})
	}
}

// TestJSONFieldsDocumented keeps doc.go's field list in step with the
// types: every JSON name must be described there.
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var names func(reflect.Type) []string
	names = func(typ reflect.Type) []string {
		var out []string
		for f := range typ.Fields() {
			if f.Anonymous {
				out = append(out, names(f.Type)...)
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag != "" && tag != "-" {
				out = append(out, tag)
			}
		}
		return out
	}
	for _, v := range []any{JSONPlan{}, JSONSummary{}, JSONChange{}, JSONUnmanaged{}, JSONRefresh{}, JSONFinding{}, plan.Drift{}, plan.Attributes{}, JSONReport{}, JSONTotals{}, JSONResult{}, JSONErrors{}, JSONError{}, JSONValidation{}} {
		for _, n := range names(reflect.TypeOf(v)) {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).Match(doc) {
				t.Errorf("%T: JSON field %q is not documented in doc.go", v, n)
			}
		}
	}
}
