package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

func stateOf(scripts []state.Script, templates []state.Template) *state.State {
	s := state.New()
	s.Lineage, s.Serial, s.APIURL = "lineage-1", 5, "https://api.test/v1"
	s.Scripts, s.Templates = scripts, templates
	return s
}

func specSnap(scripts []remote.Script, templates []remote.Template) *remote.Snapshot {
	return &remote.Snapshot{Dialect: remote.DialectSpec, Scripts: scripts, Templates: templates}
}

func liveSnap(scripts []remote.Script, templates []remote.Template) *remote.Snapshot {
	for i := range scripts {
		if scripts[i].AssignedMachines == nil {
			scripts[i].AssignedMachines = []string{}
		}
	}
	return &remote.Snapshot{Dialect: remote.DialectPaperspaceV1, AssignmentsKnown: true, Scripts: scripts, Templates: templates}
}

type S = []string

// twelve returns n owned scripts s00.. with remote twins, for the
// mass-delete rule.
func twelve(n int) ([]manifest.Script, []remote.Script, []state.Script) {
	var ms []manifest.Script
	var rs []remote.Script
	var ss []state.Script
	for i := range n {
		name := string(rune('a'+i)) + "-script"
		id := "s" + string(rune('a'+i))
		ms = append(ms, mScript(name, "x"))
		rs = append(rs, rScript(id, name))
		ss = append(ss, sScript(id, name, "x"))
	}
	return ms, rs, ss
}

func TestCompute(t *testing.T) {
	withBody := func(s manifest.Script, f func(*manifest.Script)) manifest.Script { f(&s); return s }
	protectedState := sScript("s1", "keep", "x")
	protectedState.PreventDestroy = true
	unverified := sScript("s1", "a", "")
	unverified.BodySHA256, unverified.Body = "", nil
	ms12, rs12, ss12 := twelve(12)

	tests := []struct {
		name      string
		m         *manifest.Manifest
		snap      *remote.Snapshot
		st        *state.State
		opts      Options
		want      []row
		unmanaged []Unmanaged
		findings  []Finding
	}{
		{
			name: "nothing at all",
			m:    manifestOf(nil, nil),
			snap: specSnap(nil, nil),
		},
		{
			name: "create script, template and assignments",
			m:    manifestOf([]manifest.Script{mScript("a", "echo a")}, []manifest.Template{mTemplate("t", "m1")}, mAssign("a", "m2", "m1")),
			snap: specSnap(nil, nil),
			want: []row{
				{Key: "script/a", Action: Create},
				{Key: "template/t", Action: Create},
				{Key: "assignment/a/m1", Action: Assign, Reasons: S{"new in manifest"}, DependsOn: S{"script/a"}},
				{Key: "assignment/a/m2", Action: Assign, Reasons: S{"new in manifest"}, DependsOn: S{"script/a"}},
			},
		},
		{
			name: "in sync: no changes",
			m:    manifestOf([]manifest.Script{mScript("a", "echo a")}, []manifest.Template{mTemplate("t", "m1")}, mAssign("a", "m1")),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf([]state.Script{sScript("s1", "a", "echo a", "m1")}, []state.Template{sTemplate("t1", "t", "m1")}),
		},
		{
			name: "update: attributes and body",
			m: manifestOf([]manifest.Script{withBody(mScript("a", "v2"), func(s *manifest.Script) {
				s.IsEnabled, s.RunOnce = false, true
			})}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "v1")}, nil),
			want: []row{{Key: "script/a", Action: Update, ID: "s1", Exists: true,
				Reasons: S{"runOnce false → true", "isEnabled true → false", "body changed"}}},
		},
		{
			name: "update: body hash unknown",
			m:    manifestOf([]manifest.Script{mScript("a", "v2")}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, nil),
			st:   stateOf([]state.Script{unverified}, nil),
			want: []row{{Key: "script/a", Action: Update, ID: "s1", Exists: true, Reasons: S{"content not verifiable"}}},
		},
		{
			name: "update: sensitive and preventDestroy are recorded",
			m: manifestOf([]manifest.Script{withBody(mScript("a", "v1"), func(s *manifest.Script) {
				s.Sensitive, s.PreventDestroy = true, true
			})}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "v1")}, nil),
			want: []row{{Key: "script/a", Action: Update, ID: "s1", Exists: true, Protected: true,
				Reasons: S{"sensitive false → true", "preventDestroy false → true"}}},
		},
		{
			name: "update: dropping preventDestroy is recorded, then a delete is safe",
			m:    manifestOf([]manifest.Script{mScript("keep", "x")}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "keep")}, nil),
			st:   stateOf([]state.Script{protectedState}, nil),
			want: []row{{Key: "script/keep", Action: Update, ID: "s1", Exists: true, Protected: false,
				Reasons: S{"preventDestroy true → false"}}},
		},
		{
			name: "update: protection changes on a template",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m1", PreventDestroy: true}}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []row{{Key: "template/t", Action: Update, ID: "t1", Exists: true, Protected: true,
				Reasons: S{"preventDestroy false → true"}}},
		},
		{
			name: "update template: renamed outside psync, note",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m1", Note: "y"}}),
			snap: specSnap(nil, []remote.Template{{ID: "t1", Name: "other", MachineID: "m1", Note: "x"}}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []row{{Key: "template/t", Action: Update, ID: "t1", Exists: true, Reasons: S{"name other → t (reverts a change made outside psync)", `note "x" → "y" (reverts a change made outside psync)`}}},
		},
		{
			name: "live dialect: template notes are not compared",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m1", Note: "y"}}),
			snap: liveSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
		},
		{
			name: "replace: source machine changed",
			m:    manifestOf(nil, []manifest.Template{mTemplate("t", "m2")}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []row{{Key: "template/t", Action: Replace, ID: "t1", Exists: true, Reasons: S{"machineId m1 → m2"}}},
		},
		{
			name: "delete: owned, not in the manifest",
			m:    manifestOf(nil, nil),
			snap: specSnap([]remote.Script{rScript("s9", "gone")}, []remote.Template{rTemplate("t9", "old", "m9")}),
			st:   stateOf([]state.Script{sScript("s9", "gone", "x", "m2", "m1")}, []state.Template{sTemplate("t9", "old", "m9")}),
			want: []row{
				{Key: "script/gone", Action: Delete, ID: "s9", Exists: true, Reasons: S{"not in manifest"}, Affected: S{"m1", "m2"}},
				{Key: "template/old", Action: Delete, ID: "t9", Exists: true, Reasons: S{"not in manifest"}},
			},
		},
		{
			name: "forget: owned, gone remotely and from the manifest",
			m:    manifestOf(nil, nil),
			snap: specSnap(nil, nil),
			st:   stateOf([]state.Script{sScript("s9", "gone", "x")}, []state.Template{sTemplate("t9", "old", "m9")}),
			want: []row{
				{Key: "script/gone", Action: Forget, ID: "s9", Reasons: S{forgetReason}},
				{Key: "template/old", Action: Forget, ID: "t9", Reasons: S{forgetReason}},
			},
		},
		{
			name: "forget: owned and protected, gone remotely, is not a destroy",
			m:    manifestOf(nil, nil),
			snap: specSnap(nil, nil),
			st: stateOf([]state.Script{withState(sScript("s9", "gone", "x"), func(s *state.Script) { s.PreventDestroy = true })},
				[]state.Template{{ID: "t0", Name: "base", MachineID: "m1", Deposed: true, PreventDestroy: true}}),
			want: []row{
				{Key: "script/gone", Action: Forget, ID: "s9", Reasons: S{forgetReason}},
				{Key: "template/base", Action: Forget, ID: "t0", Reasons: S{forgetReason}},
			},
		},
		{
			name: "forget: an owned object renamed in the manifest while deleted outside psync",
			m:    manifestOf([]manifest.Script{withBody(mScript("new", "x"), func(s *manifest.Script) { s.PreviousNames = S{"old"} })}, nil),
			snap: specSnap(nil, nil),
			st:   stateOf([]state.Script{sScript("s1", "old", "x")}, nil),
			want: []row{
				{Key: "script/new", Action: Create},
				{Key: "script/old", Action: Forget, ID: "s1", Reasons: S{forgetReason}},
			},
		},
		{
			name: "delete: a deposed template",
			m:    manifestOf(nil, []manifest.Template{mTemplate("base", "m2")}),
			snap: specSnap(nil, []remote.Template{rTemplate("t0", "base", "m1"), rTemplate("t1", "base", "m2")}),
			st:   stateOf(nil, []state.Template{{ID: "t0", Name: "base", MachineID: "m1", Deposed: true}, sTemplate("t1", "base", "m2")}),
			want: []row{{Key: "template/base", Action: Delete, ID: "t0", Exists: true, Reasons: S{"deposed by a replace"}}},
		},
		{
			name: "delete: a deposed template beside an update of its successor",
			m:    manifestOf(nil, []manifest.Template{{Name: "base", MachineID: "m2", Note: "new"}}),
			snap: specSnap(nil, []remote.Template{rTemplate("t0", "base", "m1"), rTemplate("t1", "base", "m2")}),
			st:   stateOf(nil, []state.Template{{ID: "t0", Name: "base", MachineID: "m1", Deposed: true}, sTemplate("t1", "base", "m2")}),
			want: []row{
				{Key: "template/base", Action: Update, ID: "t1", Exists: true, Reasons: S{`note "" → "new"`}},
				{Key: "template/base#t0", Action: Delete, ID: "t0", Exists: true, Reasons: S{"deposed by a replace"}},
			},
		},
		{
			name: "adopt: unowned objects of a managed name",
			m: manifestOf([]manifest.Script{withBody(mScript("a", "x"), func(s *manifest.Script) { s.IsEnabled = false })},
				[]manifest.Template{mTemplate("t", "m1")}, mAssign("a", "m1")),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, []remote.Template{rTemplate("t1", "t", "m1")}),
			want: []row{
				{Key: "script/a", Action: Adopt, ID: "s1", Exists: true, Reasons: S{"adopting: content not verifiable", "isEnabled true → false"}},
				{Key: "template/t", Action: Adopt, ID: "t1", Exists: true, Reasons: S{"adopting"}},
				{Key: "assignment/a/m1", Action: Assign, ID: "s1", Exists: true, Reasons: S{"in manifest; the API cannot say whether it is assigned already (assigning again is harmless)"}, DependsOn: S{"script/a"}},
			},
		},
		{
			name: "a rename waits for the delete that frees its new name",
			m:    manifestOf([]manifest.Script{{Name: "stray", Body: "x", IsEnabled: true, PreviousNames: S{"s3"}}}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "s3"), rScript("s9", "stray")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "s3", "x")}, nil),
			opts: Options{Prune: true, AllowMassDelete: true},
			want: []row{
				{Key: "script/stray#s9", Action: Delete, ID: "s9", Exists: true, Reasons: S{"not in manifest (prune)"}},
				{Key: "script/stray", Action: Update, ID: "s1", Exists: true, Reasons: S{"renamed from s3"}, DependsOn: S{"script/stray#s9"}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "stray", ID: "s9"}},
		},
		{
			// A replace whose create went through but was never recorded
			// (the apply was killed, or the create's answer was lost): the
			// next plan adopts that template and deletes the old one,
			// rather than replace again and leave a second of the name.
			name: "a replacement made but not recorded is adopted, the old one deleted",
			m:    manifestOf(nil, []manifest.Template{mTemplate("t", "m2")}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1"), rTemplate("t9", "t", "m2"), rTemplate("t8", "t", "m3")}),
			st:   stateOf(nil, []state.Template{sTemplate("t1", "t", "m1")}),
			opts: Options{AllowDestroy: true},
			want: []row{
				{Key: "template/t", Action: Adopt, ID: "t9", Exists: true, Reasons: S{"adopting", "the replacement of t1, created by an apply that stopped before recording it"}},
				{Key: "template/t#t1", Action: Delete, ID: "t1", Exists: true, Reasons: S{"replaced by t9 (machineId m1 → m2)"}, DependsOn: S{"template/t"}},
			},
			unmanaged: []Unmanaged{{Kind: KindTemplate, Name: "t", ID: "t8"}},
		},
		{
			name: "adopt with a different source machine is a replace",
			m:    manifestOf(nil, []manifest.Template{mTemplate("t", "m2")}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			want: []row{{Key: "template/t", Action: Replace, ID: "t1", Exists: true, Reasons: S{"adopting", "machineId m1 → m2"}}},
		},
		{
			name:      "unmanaged: listed, not deleted without prune",
			m:         &manifest.Manifest{Ignore: manifest.Ignore{Scripts: S{"legacy-*"}}, Settings: manifest.Settings{MaxDeletePercent: 25}},
			snap:      specSnap([]remote.Script{rScript("s1", "x"), rScript("s2", "legacy-1")}, []remote.Template{rTemplate("t1", "tx", "m1")}),
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "legacy-1", ID: "s2", Ignored: true}, {Kind: KindScript, Name: "x", ID: "s1"}, {Kind: KindTemplate, Name: "tx", ID: "t1"}},
		},
		{
			name: "unmanaged: deleted with --prune, never when ignored",
			m:    &manifest.Manifest{Ignore: manifest.Ignore{Scripts: S{"legacy-*"}}, Settings: manifest.Settings{MaxDeletePercent: 25}},
			snap: specSnap([]remote.Script{rScript("s1", "x"), rScript("s2", "legacy-1")}, []remote.Template{rTemplate("t1", "tx", "m1")}),
			opts: Options{Prune: true},
			want: []row{
				{Key: "script/x", Action: Delete, ID: "s1", Exists: true, Reasons: S{"not in manifest (prune)"}},
				{Key: "template/tx", Action: Delete, ID: "t1", Exists: true, Reasons: S{"not in manifest (prune)"}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "legacy-1", ID: "s2", Ignored: true}, {Kind: KindScript, Name: "x", ID: "s1"}, {Kind: KindTemplate, Name: "tx", ID: "t1"}},
		},
		{
			name: "unmanaged: settings.prune, live dialect shows affected machines",
			m:    &manifest.Manifest{Settings: manifest.Settings{Prune: true, MaxDeletePercent: 25}},
			snap: liveSnap([]remote.Script{rScript("s1", "x", "m1")}, nil),
			want: []row{
				{Key: "script/x", Action: Delete, ID: "s1", Exists: true, Reasons: S{"not in manifest (prune)"}, Affected: S{"m1"}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "x", ID: "s1"}},
		},
		{
			name: "owned but now ignored: forgotten, never deleted",
			m:    &manifest.Manifest{Ignore: manifest.Ignore{Scripts: S{"legacy-*"}, Templates: S{"old-*"}}, Settings: manifest.Settings{MaxDeletePercent: 25}},
			snap: specSnap([]remote.Script{rScript("s1", "legacy-a")}, []remote.Template{rTemplate("t1", "old-base", "m1")}),
			st:   stateOf([]state.Script{sScript("s1", "legacy-a", "x")}, []state.Template{sTemplate("t1", "old-base", "m1")}),
			opts: Options{Prune: true},
			want: []row{
				{Key: "script/legacy-a", Action: Forget, ID: "s1", Exists: true, Reasons: S{reasonIgnored}},
				{Key: "template/old-base", Action: Forget, ID: "t1", Exists: true, Reasons: S{reasonIgnored}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "legacy-a", ID: "s1", Ignored: true}, {Kind: KindTemplate, Name: "old-base", ID: "t1", Ignored: true}},
		},
		{
			name: "drift: owned script deleted outside psync",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, []manifest.Template{mTemplate("t", "m1")}, mAssign("a", "m1")),
			snap: specSnap(nil, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x", "m1")}, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []row{
				{Key: "script/a", Action: Create, Reasons: S{"deleted outside psync"}},
				{Key: "script/a#s1", Action: Forget, ID: "s1", Reasons: S{forgetReason}},
				{Key: "template/t", Action: Create, Reasons: S{"deleted outside psync"}},
				{Key: "template/t#t1", Action: Forget, ID: "t1", Reasons: S{forgetReason}},
				{Key: "assignment/a/m1", Action: Assign, Reasons: S{"new in manifest"}, DependsOn: S{"script/a"}},
			},
		},
		{
			name: "drift: deleted outside psync and made again by hand is adopted",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			snap: specSnap([]remote.Script{rScript("s2", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x")}, nil),
			want: []row{
				{Key: "script/a", Action: Adopt, ID: "s2", Exists: true, Reasons: S{"adopting: content not verifiable"}},
				{Key: "script/a#s1", Action: Forget, ID: "s1", Reasons: S{forgetReason}},
			},
		},
		{
			name: "rename an owned object; a new object takes the old name",
			m: manifestOf([]manifest.Script{
				withBody(mScript("new", "x"), func(s *manifest.Script) { s.PreviousNames = S{"old"} }),
				mScript("old", "y"),
			}, []manifest.Template{{Name: "t2", MachineID: "m1", PreviousNames: S{"t1"}}}),
			snap: specSnap([]remote.Script{rScript("s1", "old")}, []remote.Template{rTemplate("T1", "t1", "m1")}),
			st:   stateOf([]state.Script{sScript("s1", "old", "x")}, []state.Template{sTemplate("T1", "t1", "m1")}),
			want: []row{
				{Key: "script/new", Action: Update, ID: "s1", Exists: true, Reasons: S{"renamed from old"}},
				{Key: "script/old", Action: Create, DependsOn: S{"script/new"}},
				{Key: "template/t2", Action: Update, ID: "T1", Exists: true, Reasons: S{"renamed from t1"}},
			},
		},
		{
			name: "rename an unowned object: adopted under the new name",
			m:    manifestOf([]manifest.Script{withBody(mScript("new", "x"), func(s *manifest.Script) { s.PreviousNames = S{"gone", "old"} })}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "old")}, nil),
			want: []row{{Key: "script/new", Action: Adopt, ID: "s1", Exists: true, Reasons: S{"adopting: content not verifiable", "renamed from old"}}},
		},
		{
			name:      "duplicate names: the state's id picks one",
			m:         manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			snap:      specSnap([]remote.Script{rScript("s1", "a"), rScript("s2", "a")}, nil),
			st:        stateOf([]state.Script{sScript("s2", "a", "x")}, nil),
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "a", ID: "s1"}},
		},
		{
			name: "duplicate names: pruning the unowned twin",
			m:    manifestOf([]manifest.Script{mScript("a", "y")}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "a"), rScript("s2", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s2", "a", "x")}, nil),
			opts: Options{Prune: true},
			want: []row{
				{Key: "script/a", Action: Update, ID: "s2", Exists: true, Reasons: S{"body changed"}},
				{Key: "script/a#s1", Action: Delete, ID: "s1", Exists: true, Reasons: S{"not in manifest (prune)"}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "a", ID: "s1"}},
		},
		{
			name:      "a remote object listed twice is one object",
			m:         manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			snap:      specSnap([]remote.Script{rScript("s1", "a"), rScript("s1", "a"), rScript("s2", "b"), rScript("s2", "b")}, nil),
			st:        stateOf([]state.Script{sScript("s1", "a", "x")}, nil),
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "b", ID: "s2"}},
		},
		{
			name: "assignments, spec dialect: the state records what psync assigned",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil, mAssign("a", "m3"), mAssign("a", "m2")),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x", "m2", "m1")}, nil),
			want: []row{
				{Key: "assignment/a/m3", Action: Assign, ID: "s1", Exists: true, Reasons: S{"new in manifest"}},
				{Key: "assignment/a/m1", Action: Unassign, ID: "s1", Exists: true, Reasons: S{"machine removed from the manifest"}},
			},
		},
		{
			name: "assignments, live dialect: the remote is the truth",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil, mAssign("a", "m1", "m2", "m3")),
			snap: liveSnap([]remote.Script{rScript("s1", "a", "m1", "m4", "m5")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x", "m1", "m2", "m5")}, nil),
			want: []row{
				{Key: "assignment/a/m2", Action: Assign, ID: "s1", Exists: true, Reasons: S{"unassigned outside psync (reverts a change made outside psync)"}},
				{Key: "assignment/a/m3", Action: Assign, ID: "s1", Exists: true, Reasons: S{"new in manifest"}},
				{Key: "assignment/a/m4", Action: Unassign, ID: "s1", Exists: true, Reasons: S{"added outside psync (reverts a change made outside psync)"}},
				{Key: "assignment/a/m5", Action: Unassign, ID: "s1", Exists: true, Reasons: S{"machine removed from the manifest"}},
			},
		},
		{
			name: "assignments of a renamed script use its new name",
			m:    manifestOf([]manifest.Script{withBody(mScript("new", "x"), func(s *manifest.Script) { s.PreviousNames = S{"old"} })}, nil, mAssign("new", "m1", "m2")),
			snap: specSnap([]remote.Script{rScript("s1", "old")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "old", "x", "m1")}, nil),
			want: []row{
				{Key: "script/new", Action: Update, ID: "s1", Exists: true, Reasons: S{"renamed from old"}},
				{Key: "assignment/new/m2", Action: Assign, ID: "s1", Exists: true, Reasons: S{"new in manifest"}},
			},
		},
		{
			name: "lost state: adopt by name, re-push bodies once, delete nothing",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, []manifest.Template{mTemplate("t", "m1")}, mAssign("a", "m1")),
			snap: specSnap([]remote.Script{rScript("s1", "a"), rScript("s2", "b")}, []remote.Template{rTemplate("t1", "t", "m1"), rTemplate("t2", "u", "m1")}),
			want: []row{
				{Key: "script/a", Action: Adopt, ID: "s1", Exists: true, Reasons: S{"adopting: content not verifiable"}},
				{Key: "template/t", Action: Adopt, ID: "t1", Exists: true, Reasons: S{"adopting"}},
				{Key: "assignment/a/m1", Action: Assign, ID: "s1", Exists: true, Reasons: S{"in manifest; the API cannot say whether it is assigned already (assigning again is harmless)"}, DependsOn: S{"script/a"}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "b", ID: "s2"}, {Kind: KindTemplate, Name: "u", ID: "t2"}},
		},
		{
			name: "lost state, live dialect: assignments read from the remote",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil, mAssign("a", "m1")),
			snap: liveSnap([]remote.Script{rScript("s1", "a", "m1", "m2")}, nil),
			want: []row{
				{Key: "script/a", Action: Adopt, ID: "s1", Exists: true, Reasons: S{"adopting: content not verifiable"}},
				{Key: "assignment/a/m2", Action: Unassign, ID: "s1", Exists: true, Reasons: S{"added outside psync (reverts a change made outside psync)"}, DependsOn: S{"script/a"}},
			},
		},
		{
			name: "sensitive script: created, body kept out of JSON",
			m:    manifestOf([]manifest.Script{withBody(mScript("secret", "TOKEN=hunter2"), func(s *manifest.Script) { s.Sensitive = true })}, nil),
			snap: specSnap(nil, nil),
			want: []row{{Key: "script/secret", Action: Create}},
		},
		{
			name: "sensitive script: body changed",
			m:    manifestOf([]manifest.Script{withBody(mScript("secret", "TOKEN=new"), func(s *manifest.Script) { s.Sensitive = true })}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "secret")}, nil),
			st: stateOf([]state.Script{{ID: "s1", Name: "secret", Sensitive: true, IsEnabled: true,
				BodySHA256: state.BodyHash("TOKEN=old")}}, nil),
			want: []row{{Key: "script/secret", Action: Update, ID: "s1", Exists: true, Reasons: S{"body changed"}}},
		},
		{
			name: "replace: a matching body is pushed again, sensitive or not",
			m: manifestOf([]manifest.Script{
				withBody(mScript("secret", "TOKEN=same"), func(s *manifest.Script) { s.Sensitive = true }),
				mScript("plain", "echo same"), mScript("other", "echo other"),
			}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "secret"), rScript("s2", "plain"), rScript("s3", "other")}, nil),
			st: stateOf([]state.Script{{ID: "s1", Name: "secret", Sensitive: true, IsEnabled: true,
				BodySHA256: state.BodyHash("TOKEN=same")}, sScript("s2", "plain", "echo same"), sScript("s3", "other", "echo other")}, nil),
			opts: Options{Replace: S{"script/secret", "script/plain"}},
			want: []row{
				{Key: "script/plain", Action: Update, ID: "s2", Exists: true, Reasons: S{"replace requested"}},
				{Key: "script/secret", Action: Update, ID: "s1", Exists: true, Reasons: S{"replace requested"}},
			},
		},
		{
			name: "replace: alongside other changes, and of a script to create (which pushes it anyway)",
			m:    manifestOf([]manifest.Script{withBody(mScript("a", "echo a"), func(s *manifest.Script) { s.RunOnce = true }), mScript("b", "echo b")}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "a")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "echo a")}, nil),
			opts: Options{Replace: S{"script/a", "script/b"}},
			want: []row{
				{Key: "script/b", Action: Create},
				{Key: "script/a", Action: Update, ID: "s1", Exists: true, Reasons: S{"runOnce false → true", "replace requested"}},
			},
		},
		{
			name: "preventDestroy remembered in the state",
			m:    manifestOf(nil, nil),
			snap: specSnap([]remote.Script{rScript("s1", "keep")}, nil),
			st:   stateOf([]state.Script{protectedState}, nil),
			want: []row{{Key: "script/keep", Action: Delete, ID: "s1", Exists: true, Protected: true, Reasons: S{"not in manifest"}}},
			findings: []Finding{{Rule: RulePreventDestroy, Keys: S{"script/keep"}, Override: "--allow-destroy",
				Message: "the plan destroys 1 object protected by preventDestroy (script/keep): to destroy it, first apply preventDestroy: false in its manifest entry (put the entry back if you removed it)"}},
		},
		{
			name: "preventDestroy overridden by --allow-destroy",
			m:    manifestOf(nil, nil),
			snap: specSnap([]remote.Script{rScript("s1", "keep")}, nil),
			st:   stateOf([]state.Script{protectedState}, nil),
			opts: Options{AllowDestroy: true},
			want: []row{{Key: "script/keep", Action: Delete, ID: "s1", Exists: true, Protected: true, Reasons: S{"not in manifest"}}},
			findings: []Finding{{Rule: RulePreventDestroy, Keys: S{"script/keep"}, Override: "--allow-destroy", Overridden: true,
				Message: "the plan destroys 1 object protected by preventDestroy (script/keep): to destroy it, first apply preventDestroy: false in its manifest entry (put the entry back if you removed it)"}},
		},
		{
			name: "preventDestroy in the manifest makes a replace unsafe",
			m:    manifestOf(nil, []manifest.Template{{Name: "t", MachineID: "m2", PreventDestroy: true}, {Name: "u", MachineID: "m3", PreventDestroy: true}}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1"), rTemplate("u1", "u", "m1")}),
			st:   stateOf(nil, []state.Template{{ID: "t1", Name: "t", MachineID: "m1", PreventDestroy: true}, {ID: "u1", Name: "u", MachineID: "m1", PreventDestroy: true}}),
			want: []row{
				{Key: "template/t", Action: Replace, ID: "t1", Exists: true, Protected: true, Reasons: S{"machineId m1 → m2"}},
				{Key: "template/u", Action: Replace, ID: "u1", Exists: true, Protected: true, Reasons: S{"machineId m1 → m3"}},
			},
			findings: []Finding{{Rule: RulePreventDestroy, Keys: S{"template/t", "template/u"}, Override: "--allow-destroy",
				Message: "the plan destroys 2 objects protected by preventDestroy (template/t, template/u): to destroy them, first apply preventDestroy: false in their manifest entry (put the entry back if you removed it)"}},
		},
		{
			name: "preventDestroy remembered in the state makes a replace unsafe",
			m:    manifestOf(nil, []manifest.Template{mTemplate("t", "m2")}),
			snap: specSnap(nil, []remote.Template{rTemplate("t1", "t", "m1")}),
			st:   stateOf(nil, []state.Template{{ID: "t1", Name: "t", MachineID: "m1", PreventDestroy: true}}),
			want: []row{
				{Key: "template/t", Action: Replace, ID: "t1", Exists: true, Protected: true, Reasons: S{"machineId m1 → m2", "preventDestroy true → false"}},
			},
			findings: []Finding{{Rule: RulePreventDestroy, Keys: S{"template/t"}, Override: "--allow-destroy",
				Message: "the plan destroys 1 object protected by preventDestroy (template/t): to destroy it, first apply preventDestroy: false in its manifest entry (put the entry back if you removed it)"}},
		},
		{
			name: "maxDeletePercent: 4 of 12 is too many",
			m:    manifestOf(ms12[:8], nil),
			snap: specSnap(rs12, nil),
			st:   stateOf(ss12, nil),
			want: []row{
				{Key: "script/i-script", Action: Delete, ID: "si", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/j-script", Action: Delete, ID: "sj", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/k-script", Action: Delete, ID: "sk", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/l-script", Action: Delete, ID: "sl", Exists: true, Reasons: S{"not in manifest"}},
			},
			findings: []Finding{{Rule: RuleMaxDeletePercent, Keys: S{"script/i-script", "script/j-script", "script/k-script", "script/l-script"}, Override: "--allow-mass-delete",
				Message: "the plan deletes 4 of 12 remote scripts (33%), more than maxDeletePercent (25%): check the manifest"}},
		},
		{
			// What a state of another team looks like through the spec's
			// API, which cannot say whose a key is: every owned object gone.
			name: "every owned object gone: refused unless --allow-mass-delete",
			m:    manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "x")}, nil),
			snap: specSnap([]remote.Script{rScript("o1", "other-team")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "a", "x"), sScript("s2", "b", "x")}, []state.Template{sTemplate("t1", "t", "m1")}),
			want: []row{
				{Key: "script/a", Action: Create, Reasons: S{"deleted outside psync"}},
				{Key: "script/b", Action: Create, Reasons: S{"deleted outside psync"}},
				{Key: "script/a#s1", Action: Forget, ID: "s1", Reasons: S{forgetReason}},
				{Key: "script/b#s2", Action: Forget, ID: "s2", Reasons: S{forgetReason}},
				{Key: "template/t", Action: Forget, ID: "t1", Reasons: S{forgetReason}},
			},
			unmanaged: []Unmanaged{{Kind: KindScript, Name: "other-team", ID: "o1"}},
			findings: []Finding{{Rule: RuleAllOwnedGone, Keys: S{"script/a#s1", "script/b#s2", "template/t"}, Override: "--allow-mass-delete",
				Message: "none of the 3 objects the state owns is in the team: is this the state of another team or API key? Use the key of the state's team, or --state to pick this team's state file; if they really were all deleted outside psync, the override forgets them"}},
		},
		{
			name: "maxDeletePercent: overridden",
			m:    manifestOf(ms12[:8], nil),
			snap: specSnap(rs12, nil),
			st:   stateOf(ss12, nil),
			opts: Options{AllowMassDelete: true},
			want: []row{
				{Key: "script/i-script", Action: Delete, ID: "si", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/j-script", Action: Delete, ID: "sj", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/k-script", Action: Delete, ID: "sk", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/l-script", Action: Delete, ID: "sl", Exists: true, Reasons: S{"not in manifest"}},
			},
			findings: []Finding{{Rule: RuleMaxDeletePercent, Keys: S{"script/i-script", "script/j-script", "script/k-script", "script/l-script"}, Override: "--allow-mass-delete", Overridden: true,
				Message: "the plan deletes 4 of 12 remote scripts (33%), more than maxDeletePercent (25%): check the manifest"}},
		},
		{
			name: "maxDeletePercent: exactly the limit is allowed",
			m:    manifestOf(ms12[:9], nil),
			snap: specSnap(rs12, nil),
			st:   stateOf(ss12, nil),
			want: []row{
				{Key: "script/j-script", Action: Delete, ID: "sj", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/k-script", Action: Delete, ID: "sk", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/l-script", Action: Delete, ID: "sl", Exists: true, Reasons: S{"not in manifest"}},
			},
		},
		{
			name: "maxDeletePercent: kinds under 10 objects are exempt",
			m:    manifestOf(ms12[:1], nil),
			snap: specSnap(rs12[:9], nil),
			st:   stateOf(ss12[:9], nil),
			want: []row{
				{Key: "script/b-script", Action: Delete, ID: "sb", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/c-script", Action: Delete, ID: "sc", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/d-script", Action: Delete, ID: "sd", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/e-script", Action: Delete, ID: "se", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/f-script", Action: Delete, ID: "sf", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/g-script", Action: Delete, ID: "sg", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/h-script", Action: Delete, ID: "sh", Exists: true, Reasons: S{"not in manifest"}},
				{Key: "script/i-script", Action: Delete, ID: "si", Exists: true, Reasons: S{"not in manifest"}},
			},
		},
		{
			name: "targets: one script and its assignments",
			m: manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "y")}, []manifest.Template{mTemplate("t", "m1")},
				mAssign("a", "m1"), mAssign("b", "m1")),
			snap: specSnap(nil, nil),
			opts: Options{Targets: S{"script/a"}},
			want: []row{
				{Key: "script/a", Action: Create},
				{Key: "assignment/a/m1", Action: Assign, Reasons: S{"new in manifest"}, DependsOn: S{"script/a"}},
			},
		},
		{
			name: "targets: a create pulls in the rename it waits for",
			m: manifestOf([]manifest.Script{
				withBody(mScript("new", "x"), func(s *manifest.Script) { s.PreviousNames = S{"old"} }),
				mScript("old", "y"), mScript("other", "z"),
			}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "old")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "old", "x")}, nil),
			opts: Options{Targets: S{"script/old"}},
			want: []row{
				{Key: "script/new", Action: Update, ID: "s1", Exists: true, Reasons: S{"renamed from old"}},
				{Key: "script/old", Action: Create, DependsOn: S{"script/new"}},
			},
		},
		{
			name: "targets: unmanaged objects and deletes of the target only",
			m:    manifestOf(nil, nil),
			snap: specSnap([]remote.Script{rScript("s1", "x"), rScript("s2", "y")}, []remote.Template{rTemplate("t1", "x", "m1")}),
			opts: Options{Prune: true, Targets: S{"template/x"}},
			want: []row{
				{Key: "template/x", Action: Delete, ID: "t1", Exists: true, Reasons: S{"not in manifest (prune)"}},
			},
			unmanaged: []Unmanaged{{Kind: KindTemplate, Name: "x", ID: "t1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Key = testKey
			p, err := Compute(tt.m, tt.snap, tt.st, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rows(p)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unmanaged, p.Unmanaged); diff != "" {
				t.Errorf("unmanaged (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.findings, p.Findings); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			var refused bool
			for _, f := range tt.findings {
				refused = refused || !f.Overridden
			}
			if p.Refused() != refused {
				t.Errorf("Refused() = %t, want %t", p.Refused(), refused)
			}
			checkPlan(t, p, tt.m, tt.snap, tt.st, tt.opts)
		})
	}
}

func TestComputeErrors(t *testing.T) {
	tests := []struct {
		name string
		m    *manifest.Manifest
		snap *remote.Snapshot
		st   *state.State
		opts Options
		want string
	}{
		{
			name: "several unowned remote objects of one name",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, []manifest.Template{mTemplate("t", "m1")}),
			snap: specSnap([]remote.Script{rScript("s2", "a"), rScript("s1", "a")}, []remote.Template{rTemplate("t1", "t", "m1"), rTemplate("t2", "t", "m1"), rTemplate("t3", "t", "m1")}),
			want: `script "a": 2 remote scripts are called "a" and the state owns none of them (ids s1, s2): delete or rename all but the one psync should manage, or stop managing the name and add it to ignore.scripts
template "t": 3 remote templates are called "t" and the state owns none of them (ids t1, t2, t3): delete or rename all but the one psync should manage, or stop managing the name and add it to ignore.templates`,
		},
		{
			name: "several unowned remote objects of a previous name",
			m:    manifestOf([]manifest.Script{{Name: "new", Body: "x", PreviousNames: S{"old"}}}, nil),
			snap: specSnap([]remote.Script{rScript("s2", "old"), rScript("s1", "old")}, nil),
			want: `script "new" (previous name "old"): 2 remote scripts are called "old" and the state owns none of them (ids s1, s2)`,
		},
		{
			name: "rename onto a name an unowned object keeps",
			m:    manifestOf([]manifest.Script{{Name: "stray", Body: "x", PreviousNames: S{"s3"}}}, nil),
			snap: specSnap([]remote.Script{rScript("s1", "s3"), rScript("s9", "stray")}, nil),
			st:   stateOf([]state.Script{sScript("s1", "s3", "x")}, nil),
			want: `script "stray": renaming "s3" (id s1) would make two scripts of that name: script s9, which psync does not own, is already called "stray". Delete or rename that one, or adopt it instead of renaming (drop previousNames; the old one is then deleted), or plan with --prune to delete it`,
		},
		{
			name: "malformed target",
			m:    manifestOf(nil, nil),
			opts: Options{Targets: S{"assignment/a/m1"}},
			want: `target "assignment/a/m1": want script/NAME or template/NAME`,
		},
		{
			name: "target naming nothing",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			opts: Options{Targets: S{"script/b", "script/a", "template/a"}},
			want: `target script/b, template/a: no such object in the manifest, the remote or the state`,
		},
		{
			name: "replace of something other than a script",
			m:    manifestOf(nil, []manifest.Template{mTemplate("t", "m1")}),
			opts: Options{Replace: S{"template/t"}},
			want: `replace "template/t": want script/NAME`,
		},
		{
			name: "replace of a script the manifest does not declare",
			m:    manifestOf([]manifest.Script{mScript("a", "x")}, nil),
			opts: Options{Replace: S{"script/b", "script/a"}},
			want: `replace script/b: no such script in the manifest`,
		},
		{
			// --target would leave the replace out, and the plan would
			// only count it among the changes left out.
			name: "replace of a script --target leaves out",
			m:    manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "y")}, nil),
			opts: Options{Targets: S{"script/a"}, Replace: S{"script/b"}},
			want: `replace script/b: not among the --target objects (add --target script/b)`,
		},
		{
			name: "assignment of an undeclared script",
			m:    manifestOf(nil, nil, mAssign("ghost", "m1")),
			want: `assignment of script "ghost", which the manifest does not declare`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Key = testKey
			p, err := Compute(tt.m, tt.snap, tt.st, tt.opts)
			if err == nil {
				t.Fatalf("no error; plan %+v", rows(p))
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error:\n%s\nwant prefix:\n%s", err, tt.want)
			}
		})
	}
}

// A targeted plan counts what it left out, for the "run without --target"
// note; an untargeted plan leaves nothing out.
func TestComputeLeftOut(t *testing.T) {
	m := manifestOf([]manifest.Script{mScript("a", "x"), mScript("b", "y")}, []manifest.Template{mTemplate("t", "m1")},
		mAssign("a", "m1"), mAssign("b", "m1", "m2"))
	for _, tc := range []struct {
		targets []string
		changes int
		leftOut int
	}{
		{nil, 6, 0},
		{S{"script/a"}, 2, 4},
		{S{"script/b", "template/t"}, 4, 2},
	} {
		p, err := Compute(m, specSnap(nil, nil), nil, Options{Targets: tc.targets})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) != tc.changes || p.LeftOut != tc.leftOut {
			t.Errorf("targets %v: %d changes, %d left out; want %d and %d", tc.targets, len(p.Changes), p.LeftOut, tc.changes, tc.leftOut)
		}
	}
}
