package apply_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// The whole loop with real parts: the planner's plan, applied through the
// client to the sandbox, journaled into a state file; then planning again
// finds nothing to do.

type world struct {
	t         *testing.T
	client    *remote.Client
	statePath string
}

func (w *world) plan(m *manifest.Manifest) (*plan.Plan, *remote.Snapshot, *state.State) {
	w.t.Helper()
	snap, err := w.client.Fetch(context.Background())
	must(w.t, err)
	st, err := state.Load(w.statePath)
	must(w.t, err)
	p, err := plan.Compute(m, snap, st, plan.Options{APIURL: "sandbox", Key: state.NewFingerprintKey("sandbox key")})
	must(w.t, err)
	return p, snap, st
}

func (w *world) apply(m *manifest.Manifest, opts apply.Options) *apply.Report {
	w.t.Helper()
	p, _, st := w.plan(m)
	if p.Empty() {
		w.t.Fatalf("nothing to apply")
	}
	journal := state.NewJournal(w.statePath, st)
	report, err := apply.Run(context.Background(), p, w.client, journal, opts)
	must(w.t, err)
	must(w.t, journal.Close())
	for _, res := range report.Results {
		if res.Status != apply.Done {
			w.t.Errorf("%s %s: %s %s", res.Change.Action, res.Change.Key, res.Status, res.Error)
		}
	}
	return report
}

func (w *world) assertConverged(m *manifest.Manifest) {
	w.t.Helper()
	if p, _, _ := w.plan(m); !p.Empty() {
		var left []string
		for _, c := range p.Changes {
			left = append(left, c.Action.String()+" "+c.Key+" "+strings.Join(c.Reasons, ", "))
		}
		w.t.Errorf("planning again after the apply still finds:\n  %s", strings.Join(left, "\n  "))
	}
}

func TestApplyConvergesWithTheRealPlanner(t *testing.T) {
	inst, client := startSandbox(t, time.Millisecond)
	w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}

	v1 := &manifest.Manifest{
		Version:  1,
		Settings: manifest.Settings{MaxDeletePercent: 100},
		Scripts: []manifest.Script{
			{Name: "cuda", Body: "#!/bin/sh\necho cuda\n", IsEnabled: true},
			{Name: "secret", Body: "#!/bin/sh\necho s3cr3t\n", IsEnabled: true, Sensitive: true},
			{Name: "motd", Body: "echo hi\n", RunOnce: true, IsEnabled: false},
		},
		Templates: []manifest.Template{
			{Name: "ml-base", MachineID: "psbox001", Note: "CUDA 12"},
			{Name: "web", MachineID: "psbox002"},
		},
		Assignments: []manifest.Assignment{
			{Script: "cuda", Machines: []string{"psbox001", "psbox002"}},
			{Script: "secret", Machines: []string{"psbox003"}},
		},
	}
	w.apply(v1, apply.Options{Parallelism: 4})
	w.assertConverged(v1)

	// Change everything a manifest can change.
	v2 := &manifest.Manifest{
		Version:  1,
		Settings: manifest.Settings{MaxDeletePercent: 100},
		Scripts: []manifest.Script{
			{Name: "cuda", Body: "#!/bin/sh\necho cuda 12.4\n", IsEnabled: true},                                    // body
			{Name: "greeting", Body: "echo hi\n", RunOnce: false, IsEnabled: true, PreviousNames: []string{"motd"}}, // rename and flags
			{Name: "new", Body: "echo new\n", IsEnabled: true},
			// secret removed: unassign, then delete
		},
		Templates: []manifest.Template{
			{Name: "ml-base", MachineID: "psbox004", Note: "CUDA 12"}, // replace
			{Name: "web", MachineID: "psbox002", Note: "nginx"},       // update
		},
		Assignments: []manifest.Assignment{
			{Script: "cuda", Machines: []string{"psbox002", "psbox005"}}, // one unassign, one assign
			{Script: "new", Machines: []string{"psbox001"}},
		},
	}

	// A dry run of it writes nothing, anywhere.
	p, _, _ := w.plan(v2)
	inst.Server.ResetStats()
	before, _ := state.Load(w.statePath)
	report, err := apply.Run(context.Background(), p, client, state.NewJournal(w.statePath, before), apply.Options{DryRun: true})
	must(t, err)
	if !report.OK() || !report.DryRun {
		t.Errorf("dry run: %v", report.Counts())
	}
	if n := inst.Server.Stats().Writes(); n != 0 {
		t.Errorf("the dry run made %d API writes", n)
	}
	after, _ := state.Load(w.statePath)
	if after.Serial != before.Serial {
		t.Errorf("the dry run wrote the state (serial %d → %d)", before.Serial, after.Serial)
	}

	// A saved plan goes stale when the remote moves under it.
	saved, snap, st := w.plan(v2)
	must(t, apply.CheckPreconditions(saved, snap, st))
	var web remote.Template
	for _, tp := range snap.Templates {
		if tp.Name == "web" {
			web = tp
		}
	}
	_, err = client.UpdateTemplate(context.Background(), web.ID, remote.TemplateInput{Name: "web", Note: "edited in the console"})
	must(t, err)
	fresh, err := client.Fetch(context.Background())
	must(t, err)
	var stale *apply.StaleError
	if err := apply.CheckPreconditions(saved, fresh, st); !errors.As(err, &stale) || len(stale.Objects) != 1 || !strings.HasPrefix(stale.Objects[0], `template "web": changed since the plan`) {
		t.Errorf("CheckPreconditions after a console edit = %v, want the web template named", err)
	}

	w.apply(v2, apply.Options{Parallelism: 3})
	w.assertConverged(v2)

	dump, err := inst.Server.Dump(inst.TeamID)
	must(t, err)
	var got []string
	for _, s := range dump.StartupScripts {
		got = append(got, s.Name+" "+strings.Join(s.MachineIDs, ","))
	}
	for _, tp := range dump.CustomTemplates {
		got = append(got, "template "+tp.Name+" "+tp.MachineID+" "+tp.Note)
	}
	want := "cuda psbox002,psbox005|greeting |new psbox001|template ml-base psbox004 CUDA 12|template web psbox002 nginx"
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("remote:\n got %s\nwant %s", g, want)
	}
}

// cancelAfter is a Writer that interrupts the apply (as Ctrl-C does) when
// its n-th call starts.
type cancelAfter struct {
	remote.Writer
	n      int
	cancel context.CancelFunc
	mu     sync.Mutex
	calls  int
}

func (c *cancelAfter) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls == c.n {
		c.cancel()
	}
}

func (c *cancelAfter) CreateScript(ctx context.Context, in remote.ScriptInput) (remote.Script, error) {
	c.tick()
	return c.Writer.CreateScript(ctx, in)
}

func (c *cancelAfter) AssignScript(ctx context.Context, id, machine string) error {
	c.tick()
	return c.Writer.AssignScript(ctx, id, machine)
}

func TestApplyInterruptedThenResumedConverges(t *testing.T) {
	inst, client := startSandbox(t, 2*time.Millisecond)
	w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}
	m := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 25}}
	for i := range 30 {
		name := fmt.Sprintf("script-%02d", i)
		m.Scripts = append(m.Scripts, manifest.Script{Name: name, Body: "echo " + name + "\n", IsEnabled: true})
		m.Assignments = append(m.Assignments, manifest.Assignment{Script: name, Machines: []string{"psbox001", "psbox002"}})
	}
	p, _, st := w.plan(m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := &cancelAfter{Writer: client, n: 40, cancel: cancel}
	report, err := apply.Run(ctx, p, writer, state.NewJournal(w.statePath, st), apply.Options{Parallelism: 4})
	if !errors.Is(err, context.Canceled) || !report.Interrupted {
		t.Fatalf("Run = %v, interrupted %v; want interrupted", err, report.Interrupted)
	}
	counts := report.Counts()
	if counts[apply.Done] < 40 || counts[apply.Pending] == 0 || counts[apply.Failed] != 0 {
		t.Fatalf("counts %v: want the 40+ started done and the rest pending", counts)
	}

	// The next plan is exactly what was left.
	left, _, _ := w.plan(m)
	if len(left.Changes) != counts[apply.Pending] {
		t.Errorf("the next plan has %d changes, want the %d pending", len(left.Changes), counts[apply.Pending])
	}
	w.apply(m, apply.Options{Parallelism: 4})
	w.assertConverged(m)
	dump, err := inst.Server.Dump(inst.TeamID)
	must(t, err)
	if n := len(dump.StartupScripts); n != 30 {
		t.Errorf("%d scripts on the remote, want 30 (no duplicates)", n)
	}
	if n := len(dump.Assignments); n != 60 {
		t.Errorf("%d assignments on the remote, want 60", n)
	}
}

// A template replace that also drops preventDestroy leaves the new template
// unprotected: the replace's Change.Protected is whether the destroy of the
// old one is protected, not the protection the new one has.
func TestReplaceThatDropsPreventDestroyRecordsTheNewTemplateUnprotected(t *testing.T) {
	_, client := startSandbox(t, 0)
	w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}
	tmpl := func(machine string, protect bool) *manifest.Manifest {
		return &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100},
			Templates: []manifest.Template{{Name: "base", MachineID: machine, PreventDestroy: protect}}}
	}
	w.apply(tmpl("psbox001", true), apply.Options{})
	w.assertConverged(tmpl("psbox001", true))

	p, _, _ := w.plan(tmpl("psbox002", false))
	if len(p.Changes) != 1 || p.Changes[0].Action != plan.Replace || !p.Changes[0].Protected {
		t.Fatalf("want one protected replace, got %+v", p.Changes)
	}
	w.apply(tmpl("psbox002", false), apply.Options{})
	w.assertConverged(tmpl("psbox002", false))

	st, err := state.Load(w.statePath)
	must(t, err)
	if len(st.Templates) != 1 || st.Templates[0].PreventDestroy || st.Templates[0].MachineID != "psbox002" {
		t.Errorf("state after the replace: %+v, want one unprotected template on psbox002", st.Templates)
	}
	// And so removing it from the manifest is not refused.
	p, _, _ = w.plan(&manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100}})
	if len(p.Findings) != 0 {
		t.Errorf("deleting the unprotected template: findings %+v", p.Findings)
	}
}

// An owned object deleted outside psync is forgotten: once it is gone from
// the remote (and, here, from the manifest or renamed in it), the plan drops
// it from the state without an API call, and planning again is empty.
func TestObjectsDeletedOutsidePsyncAreForgotten(t *testing.T) {
	inst, client := startSandbox(t, 0)
	w := &world{t: t, client: client, statePath: filepath.Join(t.TempDir(), state.DefaultFileName)}
	v1 := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100},
		Scripts: []manifest.Script{
			{Name: "keep", Body: "echo keep\n", IsEnabled: true},
			{Name: "gone", Body: "echo gone\n", IsEnabled: true, PreventDestroy: true},
			{Name: "old", Body: "echo old\n", IsEnabled: true},
		},
		Templates:   []manifest.Template{{Name: "gone-t", MachineID: "psbox001", PreventDestroy: true}, {Name: "again", MachineID: "psbox002"}},
		Assignments: []manifest.Assignment{{Script: "gone", Machines: []string{"psbox001"}}},
	}
	w.apply(v1, apply.Options{})
	w.assertConverged(v1)

	// Deleted in the console.
	ctx := context.Background()
	snap, err := client.Fetch(ctx)
	must(t, err)
	for _, s := range snap.Scripts {
		if s.Name == "gone" || s.Name == "old" {
			must(t, client.DeleteScript(ctx, s.ID))
		}
	}
	for _, tp := range snap.Templates {
		must(t, client.DeleteTemplate(ctx, tp.ID))
	}
	// gone and gone-t leave the manifest; old is renamed; again stays.
	v2 := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 100},
		Scripts: []manifest.Script{
			{Name: "keep", Body: "echo keep\n", IsEnabled: true},
			{Name: "new", Body: "echo old\n", IsEnabled: true, PreviousNames: []string{"old"}},
		},
		Templates: []manifest.Template{{Name: "again", MachineID: "psbox002"}},
	}
	p, _, _ := w.plan(v2)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Action.String()+" "+c.Key)
	}
	want := []string{"create script/new", "forget script/gone", "forget script/old", "create template/again", "forget template/again#", "forget template/gone-t"}
	if len(got) != len(want) {
		t.Fatalf("plan: %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("plan: %q, want %q", got, want)
			break
		}
	}
	if len(p.Findings) != 0 {
		t.Errorf("forgetting is not destroying, yet the plan has findings: %+v", p.Findings)
	}
	inst.Server.ResetStats()
	w.apply(v2, apply.Options{})
	if n := inst.Server.Stats().Writes(); n != 2 {
		t.Errorf("the apply made %d API writes, want 2 (the creates; forgetting calls nothing)", n)
	}
	w.assertConverged(v2)
	st, err := state.Load(w.statePath)
	must(t, err)
	var names []string
	for _, s := range st.Scripts {
		names = append(names, "script "+s.Name)
	}
	for _, tp := range st.Templates {
		names = append(names, "template "+tp.Name)
	}
	if g, w := strings.Join(names, ", "), "script keep, script new, template again"; g != w {
		t.Errorf("state holds %s, want %s", g, w)
	}
}
