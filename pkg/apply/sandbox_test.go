package apply_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/sandbox"
	"github.com/psync-dev/psync/pkg/state"
)

// The tests below apply plans through the real client to the real sandbox:
// the second layer of fakes, where the order and overlap of HTTP requests
// is observed by the server.

func startSandbox(t testing.TB, latency time.Duration) (*sandbox.Instance, *remote.Client) {
	t.Helper()
	inst, err := sandbox.Start(sandbox.Config{Faults: sandbox.Faults{Latency: latency}}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	client, err := remote.New(remote.Config{BaseURL: inst.URL, APIKey: inst.Key})
	if err != nil {
		t.Fatal(err)
	}
	return inst, client
}

func TestSandboxApplyInDependencyOrder(t *testing.T) {
	inst, client := startSandbox(t, 5*time.Millisecond)
	ctx := context.Background()
	// What psync applied before: two owned scripts and a template.
	old, err := client.CreateScript(ctx, remote.ScriptInput{Name: "old", Body: "echo old\n", IsEnabled: true})
	must(t, err)
	upd, err := client.CreateScript(ctx, remote.ScriptInput{Name: "upd", Body: "echo v1\n", IsEnabled: true})
	must(t, err)
	rep, err := client.CreateTemplate(ctx, remote.TemplateInput{Name: "rep", MachineID: "psbox001"})
	must(t, err)
	for _, m := range []string{"psbox001", "psbox002"} {
		must(t, client.AssignScript(ctx, old.ID, m))
	}
	st := &state.State{
		Scripts: []state.Script{
			{ID: old.ID, Name: "old", IsEnabled: true, Assignments: []string{"psbox001", "psbox002"}},
			{ID: upd.ID, Name: "upd", IsEnabled: true},
		},
		Templates: []state.Template{{ID: rep.ID, Name: "rep", MachineID: "psbox001"}},
	}
	p := newPlan(
		createScript("new"),
		updateScript(upd.ID, "upd", "echo v2\n"),
		unassign(old.ID, "old", "psbox001"),
		unassign(old.ID, "old", "psbox002"),
		deleteScript(old.ID, "old", "assignment/old/psbox001", "assignment/old/psbox002"),
		replaceTemplate(rep.ID, "rep", "psbox001", "psbox003"),
		deleteScript("scr_gone", "gone"), // deleted behind our back: a 404 is done
		assign("", "new", "psbox001"),
		assign("", "new", "psbox002"),
		assign("", "new", "psbox999"), // no such machine: fails alone
	)
	inst.Server.ResetStats()
	j := newMemJournal(st)
	report, err := apply.Run(ctx, p, client, j, apply.Options{Parallelism: 3})
	must(t, err)

	got := outcomes(report)
	for _, res := range report.Results {
		if k := res.Change.Key; k != "assignment/new/psbox999" && res.Status != apply.Done {
			t.Errorf("%s: %+v, want done", k, got[k])
		}
	}
	if o := got["assignment/new/psbox999"]; o.Status != apply.Failed || !strings.Contains(o.Error, "404") || !strings.Contains(o.Error, "psbox999") {
		t.Errorf("assign to a missing machine: %+v, want failed with the API's 404 message", o)
	}

	// The request log, by route and path: each dependant started after its
	// dependency's response.
	st2, _ := j.snapshot()
	newScript, ok := scriptNamed(&st2, "new")
	if !ok {
		t.Fatalf("the state does not record the new script: %+v", st2.Scripts)
	}
	log := inst.Server.Requests().Requests
	find := func(method, path string) sandbox.RequestRecord {
		t.Helper()
		for _, r := range log {
			if r.Method == method && r.Path == path {
				return r
			}
		}
		t.Fatalf("no %s %s in the request log", method, path)
		return sandbox.RequestRecord{}
	}
	createNew := find("POST", "/startup-scripts")
	for _, m := range []string{"psbox001", "psbox002"} {
		if a := find("POST", "/startup-scripts/"+newScript.ID+"/assign"); a.Start.Before(createNew.End) {
			t.Errorf("assign to %s started before the script's create answered", m)
		}
	}
	del := find("DELETE", "/startup-scripts/"+old.ID)
	for _, r := range log {
		if r.Path == "/startup-scripts/"+old.ID+"/unassign" && del.Start.Before(r.End) {
			t.Errorf("the script's delete started before its unassign answered")
		}
	}
	if find("DELETE", "/custom-templates/"+rep.ID).Start.Before(find("POST", "/custom-templates").End) {
		t.Errorf("the replaced template was deleted before its replacement was created")
	}
	if peak := inst.Server.Stats().PeakInFlight; peak > 3 {
		t.Errorf("peak in-flight requests %d, above the parallelism 3", peak)
	}

	// The remote ends as the plan says.
	dump, err := inst.Server.Dump(inst.TeamID)
	must(t, err)
	var remoteNow []string
	for _, s := range dump.StartupScripts {
		remoteNow = append(remoteNow, fmt.Sprintf("script %s %q %v", s.Name, s.Script, s.MachineIDs))
	}
	for _, tp := range dump.CustomTemplates {
		remoteNow = append(remoteNow, fmt.Sprintf("template %s on %s", tp.Name, tp.MachineID))
	}
	want := []string{
		`script new "echo new\n" [psbox001 psbox002]`,
		`script upd "echo v2\n" []`,
		"template rep on psbox003",
	}
	if diff := cmp.Diff(want, remoteNow); diff != "" {
		t.Errorf("remote after apply (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"psbox001", "psbox002"}, newScript.Assignments); diff != "" {
		t.Errorf("journaled assignments of the new script (-want +got):\n%s", diff)
	}
}

func scriptNamed(st *state.State, name string) (state.Script, bool) {
	for _, s := range st.Scripts {
		if s.Name == name {
			return s, true
		}
	}
	return state.Script{}, false
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSandboxPeakInFlightIsTheParallelism(t *testing.T) {
	inst, client := startSandbox(t, 20*time.Millisecond)
	p := benchPlan(12, 2, 2) // 12 creates, 2 templates, 24 assigns
	inst.Server.ResetStats()
	report, err := apply.Run(context.Background(), p, client, newMemJournal(nil), apply.Options{Parallelism: 4})
	if err != nil || !report.OK() {
		t.Fatalf("Run: %v, %v", err, report.Counts())
	}
	stats := inst.Server.Stats()
	if stats.PeakInFlight != 4 {
		t.Errorf("peak in-flight requests = %d, want exactly the parallelism 4", stats.PeakInFlight)
	}
	if w := stats.Writes(); w != len(p.Changes) {
		t.Errorf("%d writes for %d changes", w, len(p.Changes))
	}
}

// BenchmarkApplySandbox is BenchmarkApply through the real client (no
// client rate limit) to the sandbox with 20 ms latency per request.
func BenchmarkApplySandbox(b *testing.B) {
	for _, par := range []int{1, 4, 10, 32} {
		n, m := 1000, 100
		if par == 1 {
			n, m = 100, 10
		}
		b.Run(fmt.Sprintf("p=%d/scripts=%d", par, n), func(b *testing.B) {
			p := benchPlan(n, 3, m)
			benchApply(b, p, par, func() (remote.Writer, func() int) {
				// A fresh sandbox per run: the plan creates everything.
				// The client reads the team first, as psync apply does
				// (planning); the writes are what is measured.
				inst, client := startSandbox(b, benchLatency)
				if _, err := client.Fetch(context.Background()); err != nil {
					b.Fatal(err)
				}
				inst.Server.ResetStats()
				return client, func() int { return inst.Server.Stats().Total }
			})
		})
	}
}

// In the live dialect a template is created asynchronously: while the
// client polls its event, the change is reported in progress.
func TestSandboxLiveTemplateCreateReportsProgress(t *testing.T) {
	inst, err := sandbox.Start(sandbox.Config{Dialect: sandbox.DialectPaperspace1, Live: sandbox.LiveConfig{TemplateDelay: 1200 * time.Millisecond}}, "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { inst.Close() })
	// The event is "in progress" from 400ms to 1200ms; polls at 50ms,
	// growing by half, land there three times, so a loaded machine's
	// delays cannot skip it.
	client, err := remote.New(remote.Config{BaseURL: inst.URL, APIKey: inst.Key, PollInterval: 50 * time.Millisecond})
	must(t, err)

	var mu sync.Mutex
	var progress []string
	opts := apply.Options{Parallelism: 2, OnEvent: func(e apply.Event) {
		if e.Kind == apply.EventProgress {
			mu.Lock()
			progress = append(progress, e.Result.Change.Key+": "+e.Message)
			mu.Unlock()
		}
	}}
	report, err := apply.Run(context.Background(), newPlan(createTemplate("base", "psbox001")), client, newMemJournal(nil), opts)
	must(t, err)
	if !report.OK() {
		t.Fatalf("apply: %+v", outcomes(report))
	}
	mu.Lock()
	defer mu.Unlock()
	inProgress := false
	for _, p := range progress {
		inProgress = inProgress || strings.HasPrefix(p, "template/base: ") && strings.Contains(p, "in progress")
	}
	if !inProgress {
		t.Errorf("no progress event said the template was in progress: %q", progress)
	}
}
