package plan_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// The plan refreshes the state's record of owned objects the API shows
// otherwise (a change made outside psync, or one whose answer was lost),
// but only what the API returns, and not for objects it changes anyway.
func TestRefresh(t *testing.T) {
	body := "echo a\n"
	desired := &manifest.Manifest{Version: 1, Settings: manifest.Settings{MaxDeletePercent: 25},
		Scripts: []manifest.Script{
			{Name: "renamed", Body: body, IsEnabled: false, PreviousNames: []string{"a"}},
			{Name: "same", Body: body, IsEnabled: true},
			{Name: "changing", Body: "echo new\n", IsEnabled: true},
		},
		Templates: []manifest.Template{{Name: "t", MachineID: "psbox001", Note: "new note"}},
	}
	st := &state.State{
		Scripts: []state.Script{
			// The rename and the flag reached the API; the answer did not.
			{ID: "s1", Name: "a", BodySHA256: state.BodyHash(body), IsEnabled: true},
			{ID: "s2", Name: "same", BodySHA256: state.BodyHash(body), IsEnabled: true},
			// Has a change in the plan: the applier records it then.
			{ID: "s3", Name: "changing-old", BodySHA256: state.BodyHash(body), IsEnabled: true},
		},
		Templates: []state.Template{{ID: "t1", Name: "t", MachineID: "psbox001", Note: "old note"}},
	}
	for _, tc := range []struct {
		dialect remote.Dialect
		known   bool
		want    []plan.Refresh
	}{
		{remote.DialectSpec, false, []plan.Refresh{
			{Kind: plan.KindScript, ID: "s1", Name: "renamed"},
			{Kind: plan.KindTemplate, ID: "t1", Name: "t", MachineID: "psbox001", Note: "new note", NoteKnown: true},
		}},
		// The live API has no notes, and tells assignments.
		{remote.DialectPaperspaceV1, true, []plan.Refresh{
			{Kind: plan.KindScript, ID: "s1", Name: "renamed", Assignments: []string{"psbox002"}, AssignmentsKnown: true},
		}},
	} {
		t.Run(string(tc.dialect), func(t *testing.T) {
			snap := &remote.Snapshot{Dialect: tc.dialect, AssignmentsKnown: tc.known,
				Scripts: []remote.Script{
					{ID: "s1", Name: "renamed", IsEnabled: false, AssignedMachines: []string{"psbox002"}},
					{ID: "s2", Name: "same", IsEnabled: true},
					{ID: "s3", Name: "changing", IsEnabled: true},
				},
				Templates: []remote.Template{{ID: "t1", Name: "t", MachineID: "psbox001", Note: map[bool]string{true: "", false: "new note"}[tc.known]}},
			}
			if !tc.known {
				snap.Scripts[0].AssignedMachines = nil
			}
			m := *desired
			if tc.known {
				// The manifest wants what the API has; only the state lags.
				m.Assignments = []manifest.Assignment{{Script: "renamed", Machines: []string{"psbox002"}}}
			}
			p, err := plan.Compute(&m, snap, st, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Refresh); diff != "" {
				t.Errorf("refresh (-want +got):\n%s", diff)
			}
			for _, c := range p.Changes {
				if c.ID == "s1" || c.ID == "s2" || c.ID == "t1" {
					t.Errorf("change %s for an object the API already shows as the manifest says", c.Key)
				}
			}
			// Recorded, the state agrees with the API.
			s := st.Clone()
			for _, r := range p.Refresh {
				r.Apply(s)
			}
			got, _ := s.ScriptByID("s1")
			if got.Name != "renamed" || got.IsEnabled || got.BodySHA256 != state.BodyHash(body) {
				t.Errorf("refreshed s1 = %+v", got)
			}
			if tc.known && !cmp.Equal(got.Assignments, []string{"psbox002"}) || !tc.known && got.Assignments != nil {
				t.Errorf("refreshed s1 assignments = %v", got.Assignments)
			}
		})
	}
}

// A refresh that renames an owned script to the name of another owned
// entry (deleted outside psync, which the same plan forgets) leaves a
// state that holds its invariants at every step: the applier journals the
// refresh on its own, and a state with one name twice does not load.
// (Found by review: Apply renamed through the pointer.)
func TestRefreshApplyKeepsNamesUnique(t *testing.T) {
	st := &state.State{
		Lineage: "L", APIURL: "u",
		Scripts:   []state.Script{{ID: "s1", Name: "web"}, {ID: "s2", Name: "db"}},
		Templates: []state.Template{{ID: "t1", Name: "base"}, {ID: "t2", Name: "gpu"}},
	}
	plan.Refresh{Kind: plan.KindScript, ID: "s1", Name: "db"}.Apply(st)
	plan.Refresh{Kind: plan.KindTemplate, ID: "t1", Name: "gpu"}.Apply(st)
	if err := st.Validate(); err != nil {
		t.Fatalf("after the refresh: %v", err)
	}
	if e, ok := st.ScriptByID("s1"); !ok || e.Name != "db" {
		t.Errorf("script s1 = %+v, want it renamed to db", e)
	}
}
