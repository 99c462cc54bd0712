package apply_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// savedPlan is a plan made against snap and a state at serial 4.
func savedPlan(snap *remote.Snapshot) *plan.Plan {
	scripts := map[string]remote.Script{}
	for _, s := range snap.Scripts {
		scripts[s.ID] = s
	}
	templates := map[string]remote.Template{}
	for _, t := range snap.Templates {
		templates[t.ID] = t
	}
	pin := func(c plan.Change) plan.Change {
		if c.Precondition.Exists {
			if c.Kind == plan.KindTemplate {
				c.Precondition.Fingerprint = templates[c.ID].Fingerprint()
			} else {
				c.Precondition.Fingerprint = scripts[c.ID].Fingerprint()
			}
		}
		return c
	}
	p := newPlan(
		createScript("new"),
		pin(updateScript("scr-upd", "upd", "echo v2\n")),
		pin(unassign("scr-old", "old", "psbox001")),
		pin(deleteScript("scr-old", "old", "assignment/old/psbox001")),
		pin(replaceTemplate("tpl-rep", "rep", "psbox001", "psbox004")),
		createTemplate("fresh", "psbox002"),
		assign("", "new", "psbox001"),
	)
	p.StateLineage, p.StateSerial = "L", 4
	return p
}

func snapshot() *remote.Snapshot {
	return &remote.Snapshot{
		Scripts: []remote.Script{
			{ID: "scr-old", Name: "old", IsEnabled: true},
			{ID: "scr-upd", Name: "upd", IsEnabled: true},
		},
		Templates: []remote.Template{{ID: "tpl-rep", Name: "rep", MachineID: "psbox001"}},
	}
}

func TestCheckPreconditionsAcceptsAnUnmovedPlan(t *testing.T) {
	p := savedPlan(snapshot())
	if err := apply.CheckPreconditions(p, snapshot(), &state.State{Lineage: "L", Serial: 4}); err != nil {
		t.Errorf("CheckPreconditions = %v, want nil", err)
	}
}

func TestCheckPreconditionsNamesEveryMovedObjectAtOnce(t *testing.T) {
	p := savedPlan(snapshot())
	moved := snapshot()
	moved.Scripts[1].RunOnce = true                                                // upd edited in the console
	moved.Scripts = moved.Scripts[1:]                                              // old deleted by someone
	moved.Scripts = append(moved.Scripts, remote.Script{ID: "scr-9", Name: "new"}) // new's name taken
	moved.Templates[0].Note = "edited"                                             // rep edited
	moved.Templates = append(moved.Templates, remote.Template{ID: "tpl-9", Name: "fresh"})

	err := apply.CheckPreconditions(p, moved, &state.State{Lineage: "L", Serial: 6})
	var stale *apply.StaleError
	if !errors.As(err, &stale) {
		t.Fatalf("CheckPreconditions = %v, want a *StaleError", err)
	}
	before := snapshot()
	want := []string{
		"state changed since the plan (serial 4 → 6)",
		`script "new": created since the plan (id scr-9)`,
		`script "upd": changed since the plan (fingerprint ` + before.Scripts[1].Fingerprint() + " → " + moved.Scripts[0].Fingerprint() + ")",
		`script "old": deleted since the plan (id scr-old)`,
		`template "rep": changed since the plan (fingerprint ` + before.Templates[0].Fingerprint() + " → " + moved.Templates[0].Fingerprint() + ")",
		`template "fresh": created since the plan (id tpl-9)`,
	}
	if diff := cmp.Diff(want, stale.Objects); diff != "" {
		t.Errorf("stale objects (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != "6 objects changed since the plan:\n  "+want[0]+"\n  "+want[1]+"\n  "+want[2]+"\n  "+want[3]+"\n  "+want[4]+"\n  "+want[5] {
		t.Errorf("Error() = %q", got)
	}
}

func TestCheckPreconditionsStateLineage(t *testing.T) {
	p := savedPlan(snapshot())
	for name, tt := range map[string]struct {
		st   *state.State
		want string
	}{
		"other lineage": {&state.State{Lineage: "M", Serial: 4}, "state replaced since the plan (lineage L → M)"},
		"no state":      {nil, "state replaced since the plan (lineage L → (none))"},
	} {
		t.Run(name, func(t *testing.T) {
			err := apply.CheckPreconditions(p, snapshot(), tt.st)
			var stale *apply.StaleError
			if !errors.As(err, &stale) {
				t.Fatalf("CheckPreconditions = %v, want a *StaleError", err)
			}
			if diff := cmp.Diff([]string{tt.want}, stale.Objects); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if err.Error() != tt.want {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.want)
			}
		})
	}
}

func TestCheckPreconditionsAssignmentOfADeletedScript(t *testing.T) {
	snap := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-a", Name: "a"}}}
	p := newPlan(assign("scr-a", "a", "psbox001"), assign("scr-a", "a", "psbox002"))
	if err := apply.CheckPreconditions(p, snap, &state.State{}); err != nil {
		t.Fatalf("unmoved: %v", err)
	}
	err := apply.CheckPreconditions(p, &remote.Snapshot{}, &state.State{})
	var stale *apply.StaleError
	if !errors.As(err, &stale) {
		t.Fatalf("CheckPreconditions = %v, want a *StaleError", err)
	}
	// Named once, however many changes touch it.
	if diff := cmp.Diff([]string{`script "a": deleted since the plan (id scr-a)`}, stale.Objects); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCheckPreconditionsCreateOfANameARenameFrees(t *testing.T) {
	snap := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-1", Name: "a", IsEnabled: true}}}
	rename := updateScript("scr-1", "b", "echo\n")
	rename.Before.Name = "a"
	rename.Precondition.Fingerprint = snap.Scripts[0].Fingerprint()
	create := createScript("a")
	create.DependsOn = []string{"script/b"}
	p := newPlan(rename, create)
	if err := apply.CheckPreconditions(p, snap, nil); err != nil {
		t.Errorf("CheckPreconditions = %v, want nil: the rename frees the name", err)
	}
	// Another object taking the name is still stale.
	snap.Scripts = append([]remote.Script{{ID: "scr-2", Name: "a"}}, snap.Scripts...)
	if err := apply.CheckPreconditions(p, snap, nil); err == nil {
		t.Errorf("CheckPreconditions = nil with a second script named a")
	}
}

// A forget was planned against an object being gone: it is stale only if
// that object is back, not when another object has its name.
func TestCheckPreconditionsForget(t *testing.T) {
	p := newPlan(plan.Change{Key: "script/gone", Kind: plan.KindScript, Action: plan.Forget, Name: "gone", ID: "scr-gone"})
	p.StateLineage, p.StateSerial = "L", 4
	st := &state.State{Lineage: "L", Serial: 4}
	other := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-other", Name: "gone"}}}
	if err := apply.CheckPreconditions(p, other, st); err != nil {
		t.Errorf("another object of the name: CheckPreconditions = %v, want nil", err)
	}
	back := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-gone", Name: "gone"}}}
	var stale *apply.StaleError
	err := apply.CheckPreconditions(p, back, st)
	if !errors.As(err, &stale) {
		t.Fatalf("the object is back: CheckPreconditions = %v, want a StaleError", err)
	}
	if diff := cmp.Diff([]string{`script "gone": exists again since the plan (id scr-gone)`}, stale.Objects); diff != "" {
		t.Errorf("stale objects (-want +got):\n%s", diff)
	}
}

// A forget of an object whose name is now ignored was planned against the
// object existing; forgetting it is right whether it still exists or not.
func TestCheckPreconditionsForgetOfAnIgnoredObject(t *testing.T) {
	obj := remote.Script{ID: "scr-leg", Name: "legacy"}
	p := newPlan(plan.Change{Key: "script/legacy", Kind: plan.KindScript, Action: plan.Forget, Name: "legacy", ID: "scr-leg",
		Precondition: plan.Precondition{Exists: true, Fingerprint: obj.Fingerprint()}})
	p.StateLineage, p.StateSerial = "L", 4
	st := &state.State{Lineage: "L", Serial: 4}
	for name, snap := range map[string]*remote.Snapshot{
		"still there":            {Scripts: []remote.Script{obj}},
		"edited since the plan":  {Scripts: []remote.Script{{ID: "scr-leg", Name: "legacy", RunOnce: true}}},
		"deleted since the plan": {},
	} {
		if err := apply.CheckPreconditions(p, snap, st); err != nil {
			t.Errorf("%s: CheckPreconditions = %v, want nil", name, err)
		}
	}
}

// A deleted object that the API still shows does not hold its name: a
// saved plan that creates the name again is not stale.
func TestCheckPreconditionsCreateOfALingeringName(t *testing.T) {
	p := newPlan(createScript("again"))
	p.StateLineage, p.StateSerial = "L", 4
	snap := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-gone", Name: "again", IsEnabled: true}}}
	st := &state.State{Lineage: "L", Serial: 4}
	if err := apply.CheckPreconditions(p, snap, st); err == nil {
		t.Fatal("a create of a name another object holds is not stale")
	}
	st.MarkDeleted(state.KindScript, "scr-gone", "again")
	if err := apply.CheckPreconditions(p, snap, st); err != nil {
		t.Errorf("a create of the name of an object psync deleted, which lingers: %v", err)
	}
}

// An assignment acts on its script's id, but show names it by the script's
// name: a plan edited to point the id at another script (its fingerprint
// copied too) would show "assign a" and assign b. The id must be of the
// script named, or of one the plan renames to that name.
func TestCheckPreconditionsAssignmentOfAnotherScript(t *testing.T) {
	snap := &remote.Snapshot{Scripts: []remote.Script{{ID: "scr-a", Name: "a"}, {ID: "scr-b", Name: "b"}}}
	forged := assign("scr-b", "a", "psbox001")
	forged.Precondition.Fingerprint = snap.Scripts[1].Fingerprint()
	err := apply.CheckPreconditions(newPlan(forged), snap, &state.State{})
	var stale *apply.StaleError
	if !errors.As(err, &stale) {
		t.Fatalf("CheckPreconditions = %v, want a *StaleError", err)
	}
	if diff := cmp.Diff([]string{`script "a": the plan's id scr-b is of script "b"`}, stale.Objects); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A script the plan renames to the name is its script.
	rename := updateScript("scr-b", "a2", "echo\n")
	rename.Before.Name = "b"
	rename.Precondition.Fingerprint = snap.Scripts[1].Fingerprint()
	renamed := assign("scr-b", "a2", "psbox001")
	renamed.DependsOn = []string{"script/a2"}
	if err := apply.CheckPreconditions(newPlan(rename, renamed), snap, &state.State{}); err != nil {
		t.Errorf("assignment of a script the plan renames: %v", err)
	}
}
