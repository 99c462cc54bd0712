package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// TestDrift compares the three sides: what the state says was last
// applied, what the remote has now, and what the manifest wants. Every
// attribute changed outside psync is drift, whether or not the manifest
// changed too, and says what apply does about it.
func TestDrift(t *testing.T) {
	disabled := func(r remote.Script) remote.Script { r.IsEnabled = false; return r }
	runOnce := func(s manifest.Script) manifest.Script { s.RunOnce = true; return s }
	noted := func(tm remote.Template, note string) remote.Template { tm.Note = note; return tm }
	tests := []struct {
		name   string
		m      *manifest.Manifest
		snap   *remote.Snapshot
		st     *state.State
		opts   Options
		want   []Drift
		rows   []row
		unread bool
	}{
		{
			name: "renamed and disabled in the console, the manifest unchanged: both reverted",
			m:    manifestOf([]manifest.Script{mScript("install-nvidia", "x")}, nil),
			snap: specSnap([]remote.Script{disabled(rScript("s1", "install-drivers"))}, nil),
			st:   stateOf([]state.Script{sScript("s1", "install-nvidia", "x")}, nil),
			want: []Drift{
				{Key: "script/install-nvidia", Kind: KindScript, ID: "s1", Name: "install-drivers", Attribute: "name", LastApplied: "install-nvidia", Remote: "install-drivers", Resolution: ResolutionRevert},
				{Key: "script/install-nvidia", Kind: KindScript, ID: "s1", Name: "install-drivers", Attribute: "isEnabled", LastApplied: "true", Remote: "false", Resolution: ResolutionRevert},
			},
			rows: []row{{Key: "script/install-nvidia", Action: Update, ID: "s1", Exists: true, Reasons: S{
				"name install-drivers → install-nvidia (reverts a change made outside psync)",
				"isEnabled false → true (reverts a change made outside psync)",
			}}},
			unread: true,
		},
		{
			name: "renamed in the console, the manifest renamed the same way: kept; the PR's own change is not drift",
			m:    manifestOf([]manifest.Script{runOnce(mScript("install-drivers", "x"))}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "install-drivers")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "install-nvidia", "x")}, nil),
			want: []Drift{
				{Key: "script/install-drivers", Kind: KindScript, ID: "s1", Name: "install-drivers", Attribute: "name", LastApplied: "install-nvidia", Remote: "install-drivers", Resolution: ResolutionKeep},
			},
			rows:   []row{{Key: "script/install-drivers", Action: Update, ID: "s1", Exists: true, Reasons: S{"runOnce false → true"}}},
			unread: true,
		},
		{
			name: "live dialect: a machine added and one removed in the console",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil, mAssign("a", "m1", "m2")),
			snap: liveSnap([]remote.Script{rScript("s1", "a", "m2", "m3")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x", "m1", "m2")}, nil),
			want: []Drift{
				{Key: "script/a", Kind: KindScript, ID: "s1", Name: "a", Attribute: "machines", LastApplied: "m1, m2", Remote: "m2, m3", Resolution: ResolutionRevert},
			},
			rows: []row{
				{Key: "assignment/a/m1", Action: Assign, ID: "s1", Exists: true, Reasons: S{"unassigned outside psync (reverts a change made outside psync)"}},
				{Key: "assignment/a/m3", Action: Unassign, ID: "s1", Exists: true, Reasons: S{"added outside psync (reverts a change made outside psync)"}},
			},
			unread: true,
		},
		{
			name: "a template note changed in the console that the manifest now agrees with: kept, no change",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m1", Note: "new"}}),
			snap: specSnap(nil, []remote.Template{noted(rTemplate("t1", "t", "m1"), "new")}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []Drift{
				{Key: "template/t", Kind: KindTemplate, ID: "t1", Name: "t", Attribute: "note", LastApplied: "", Remote: "new", Resolution: ResolutionKeep},
			},
		},
		{
			name: "live dialect: notes are not drift (the API has none)",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m1", Note: "x"}}),
			snap: liveSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf(nil, []state.Template{{ID: "t1", Name: "t", MachineID: "m1", Note: "x"}}),
		},
		{
			name: "drift on an object that left the manifest: apply deletes it",
			m:    manifestOf(nil, nil),
			snap: specSnap([]remote.Script{disabled(rScript("s1", "a"))}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x")}, nil),
			want: []Drift{
				{Key: "script/a", Kind: KindScript, ID: "s1", Name: "a", Attribute: "isEnabled", LastApplied: "true", Remote: "false", Resolution: ResolutionDelete},
			},
			rows:   []row{{Key: "script/a", Action: Delete, ID: "s1", Exists: true, Reasons: S{"not in manifest"}}},
			unread: true,
		},
		{
			name: "targets: drift of other objects is left out",
			m:    manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "y")}, nil),
			snap: specSnap([]remote.Script{disabled(rScript("s1", "a")), disabled(rScript("s2", "b"))}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x"), sScript("s2", "b", "y")}, nil),
			opts: Options{Targets: S{"script/b"}},
			want: []Drift{
				{Key: "script/b", Kind: KindScript, ID: "s2", Name: "b", Attribute: "isEnabled", LastApplied: "true", Remote: "false", Resolution: ResolutionRevert},
			},
			rows:   []row{{Key: "script/b", Action: Update, ID: "s2", Exists: true, Reasons: S{"isEnabled false → true (reverts a change made outside psync)"}}},
			unread: true,
		},
		{
			name: "a plan of new objects only: no drift, and no body to read back",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			snap: specSnap(nil, nil),
			rows: []row{{Key: "script/a", Action: Create}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(tt.m, tt.snap, tt.st, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Drift); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.rows, rows(p)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if p.BodiesUnreadable != tt.unread {
				t.Errorf("BodiesUnreadable = %t, want %t", p.BodiesUnreadable, tt.unread)
			}
			checkPlan(t, p, tt.m, tt.snap, tt.st, tt.opts)
		})
	}
}
