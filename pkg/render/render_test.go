package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/render -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

var extension = map[Format]string{Text: "txt", JSON: "json", Markdown: "md"}

func renderPlan(t *testing.T, p *plan.Plan, f Format, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Plan(&b, p, f, o); err != nil {
		t.Fatalf("Plan(%s): %v", f, err)
	}
	return b.Bytes()
}

func renderReport(t *testing.T, r *apply.Report, f Format, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Report(&b, r, f, o); err != nil {
		t.Fatalf("Report(%s): %v", f, err)
	}
	return b.Bytes()
}

func TestPlanGolden(t *testing.T) {
	for _, s := range planScenarios {
		for _, f := range []Format{Text, JSON, Markdown} {
			if s.mdOnly && f != Markdown {
				continue
			}
			t.Run(s.name+"/"+string(f), func(t *testing.T) {
				golden(t, "plan/"+s.name+"."+extension[f], renderPlan(t, s.plan(), f, Options{}))
			})
		}
	}
	// One coloured rendering shows where the colours go.
	t.Run("updates/color", func(t *testing.T) {
		golden(t, "plan/updates.color.txt", renderPlan(t, updatesPlan(), Text, Options{Color: true}))
	})
}

func TestReportGolden(t *testing.T) {
	for _, s := range reportScenarios {
		for _, f := range []Format{Text, JSON, Markdown} {
			t.Run(s.name+"/"+string(f), func(t *testing.T) {
				golden(t, "report/"+s.name+"."+extension[f], renderReport(t, s.report(), f, Options{}))
			})
		}
	}
}

// fakeClock advances only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressGolden(t *testing.T) {
	for _, live := range []bool{false, true} {
		name := "progress/plain.txt"
		if live {
			name = "progress/live.txt"
		}
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			r := failedReport()
			n := len(r.Results)
			p := newProgress(&b, n, Options{}, live, clock.now, 0)
			start := func(i int) {
				p.Event(apply.Event{Kind: apply.EventStarted, Result: apply.Result{Change: r.Results[i].Change}, Total: n})
			}
			finish := func(i, done int) {
				p.Event(apply.Event{Kind: apply.EventFinished, Result: r.Results[i], Done: done, Total: n})
			}
			start(0)
			start(1)
			clock.t = clock.t.Add(ms(700))
			p.Event(apply.Event{Kind: apply.EventProgress, Result: apply.Result{Change: r.Results[1].Change}, Message: "creating (45%)", Total: n})
			clock.t = clock.t.Add(ms(800))
			finish(0, 1)
			finish(2, 2)
			finish(3, 3)
			clock.t = clock.t.Add(ms(801))
			finish(1, 4)
			p.Close()
			p.Close()
			p.Event(apply.Event{Kind: apply.EventFinished, Result: r.Results[1], Done: 5, Total: n}) // ignored
			golden(t, name, b.Bytes())
		})
	}
}

// syncBuffer lets the test read what the refresh goroutine wrote.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressRefreshesTheClockAndStops(t *testing.T) {
	var w syncBuffer
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock.t = clock.t.Add(ms(100)) // time passes between refreshes
		return clock.t
	}
	p := newProgress(&w, 3, Options{}, true, now, time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(w.String(), "elapsed") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.Close()
	out := w.String()
	if !strings.Contains(out, "\r[0/3] ") || !strings.Contains(out, "ms elapsed") {
		t.Fatalf("no refreshed status line in %q", out)
	}
	if !strings.HasSuffix(out, "\r") {
		t.Errorf("Close left the status line on screen: %q", out)
	}
	time.Sleep(10 * time.Millisecond)
	if after := w.String(); after != out {
		t.Errorf("output after Close: %q", after[len(out):])
	}
}

// The status line counts the changes calling the API apart from those
// waiting for their journal write, estimates the time left once a few
// are done, and says when a rate limit sets the pace.
func TestProgressStatusLine(t *testing.T) {
	var b bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	const n = 20
	p := newProgress(&b, n, Options{}, true, clock.now, 0)
	pace := ""
	p.SetPace(func() string { return pace })
	change := func(i int) apply.Result {
		return apply.Result{Change: plan.Change{Key: fmt.Sprintf("script/s%02d", i), Kind: plan.KindScript, Action: plan.Create, Name: fmt.Sprintf("s%02d", i)}}
	}
	event := func(kind apply.EventKind, i, done int) {
		res := change(i)
		if kind == apply.EventFinished {
			res.Status = apply.Done
		}
		p.Event(apply.Event{Kind: kind, Result: res, Done: done, Total: n})
	}
	status := func() string {
		out := b.String()
		return strings.TrimRight(out[strings.LastIndex(out, "\r")+1:], " ")
	}
	for i := range 4 {
		event(apply.EventStarted, i, 0)
	}
	event(apply.EventSaving, 0, 0)
	event(apply.EventSaving, 1, 0)
	if got, want := status(), "[0/20] 0ms elapsed, 2 in progress, 2 saving"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	// Four done are too few for an estimate; five in 10s leave 15 for 30s.
	for i := range 4 {
		clock.t = clock.t.Add(2 * time.Second)
		event(apply.EventSaving, i, i)
		event(apply.EventFinished, i, i+1)
	}
	if got := status(); strings.Contains(got, "left") {
		t.Errorf("status %q estimates the time left after 4 of 20", got)
	}
	event(apply.EventStarted, 4, 4)
	clock.t = clock.t.Add(2 * time.Second)
	pace = "rate-limited by the API: 48 req/s"
	event(apply.EventFinished, 4, 5)
	if got, want := status(), "[5/20] 10.0s elapsed, about 30s left, rate-limited by the API: 48 req/s"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	p.Close()
	if !strings.HasSuffix(b.String(), "\r") {
		t.Errorf("Close left the status line on screen: %q", b.String())
	}
}

// A plan with many selectors over a large fleet keeps its Markdown head
// short: at most 20 selector lines of at most 20 machines.
func TestMarkdownSelectionsCapped(t *testing.T) {
	p := emptyPlan()
	for i := range 30 {
		sel := plan.ScriptSelection{Script: fmt.Sprintf("script-%02d", i)}
		for j := range 3 {
			m := plan.SelectorMatch{Selector: fmt.Sprintf("name=pool-%d-*", j)}
			for k := range 500 {
				m.Machines = append(m.Machines, plan.SelectedMachine{ID: fmt.Sprintf("ps%05d", k), Name: fmt.Sprintf("pool-%d-%d", j, k)})
			}
			sel.Selectors = append(sel.Selectors, m)
		}
		p.Selections = append(p.Selections, sel)
	}
	var b strings.Builder
	if err := Plan(&b, p, Markdown, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, ", select <code>"); n != 20 {
		t.Errorf("%d selector lines, want 20", n)
	}
	if !strings.Contains(out, "- and 70 more selectors") || !strings.Contains(out, "and 480 more") {
		t.Errorf("no note of what was left out:\n%s", out[:min(len(out), 2000)])
	}
	if len(out) > 30_000 {
		t.Errorf("the comment is %d bytes", len(out))
	}
}

// A finding over thousands of changes (a selector over a large fleet that
// stopped matching) names the first few in text and says how many more,
// instead of a line of every key (JSON lists them all).
func TestTextFindingKeysCapped(t *testing.T) {
	p := emptyPlan()
	f := plan.Finding{Rule: plan.RuleSelectorMatchesNone, Message: "select name=nb-* matches none", Override: "--allow-mass-delete"}
	for i := range 3000 {
		f.Keys = append(f.Keys, fmt.Sprintf("assignment/a/ps%05d", i))
	}
	p.Findings = []plan.Finding{f}
	var b strings.Builder
	if err := Plan(&b, p, Text, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "  Changes: assignment/a/ps00000, assignment/a/ps00001,") || !strings.Contains(out, "assignment/a/ps00019 and 2980 more\n") {
		t.Errorf("the changes are not capped at 20 with a count:\n%s", out[:min(len(out), 3000)])
	}
	if strings.Contains(out, "ps00020") || len(out) > 5_000 {
		t.Errorf("text is %d bytes, holding keys past the 20th", len(out))
	}
}

// A targeted plan says in JSON how many changes --target left out: a
// policy reading "empty": true of it would otherwise take it for a team
// that matches the manifest.
func TestJSONPlanCountsWhatTargetLeftOut(t *testing.T) {
	var b strings.Builder
	if err := Plan(&b, &plan.Plan{LeftOut: 3}, JSON, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"leftOut": 3`) {
		t.Errorf("no leftOut count in the JSON plan:\n%s", b.String())
	}
}
