package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// TestComputeFullChanges pins every field of representative changes:
// before and after sides, bodies from the state, preconditions.
func TestComputeFullChanges(t *testing.T) {
	rA := rScript("s1", "a", "m1")
	rGone := rScript("s9", "gone")
	rT := rTemplate("t1", "t", "m1")
	m := manifestOf(
		[]manifest.Script{mScript("a", "v2"), mScript("b", "new")},
		[]manifest.Template{{Name: "t", MachineID: "m2", Note: "n"}},
		mAssign("b", "m3"),
	)
	snap := liveSnap([]remote.Script{rA, rGone}, []remote.Template{rT})
	rA, rGone = snap.Scripts[0], snap.Scripts[1]
	st := stateOf([]state.Script{sScript("s1", "a", "v1", "m1"), sScript("s9", "gone", "g", "m7")}, []state.Template{sTemplate("t1", "t", "m1")})
	p, err := Compute(m, snap, st, Options{APIURL: "https://api.test/v1", Team: "team1"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		FormatVersion: FormatVersion,
		APIURL:        "https://api.test/v1",
		Team:          "team1",
		StateLineage:  "lineage-1",
		StateSerial:   5,
		Changes: []Change{
			{
				Key: "script/b", Kind: KindScript, Action: Create, Name: "b",
				After: &Attributes{Name: "b", RunOnce: ptr(false), IsEnabled: ptr(true), Body: ptr("new"), BodySHA256: state.BodyHash("new")},
			},
			{
				Key: "script/a", Kind: KindScript, Action: Update, Name: "a", ID: "s1",
				Reasons:      []string{"body changed"},
				Before:       &Attributes{Name: "a", RunOnce: ptr(false), IsEnabled: ptr(true), Body: ptr("v1"), BodySHA256: state.BodyHash("v1")},
				After:        &Attributes{Name: "a", RunOnce: ptr(false), IsEnabled: ptr(true), Body: ptr("v2"), BodySHA256: state.BodyHash("v2")},
				Precondition: Precondition{Exists: true, Fingerprint: rA.Fingerprint()},
			},
			{
				Key: "script/gone", Kind: KindScript, Action: Delete, Name: "gone", ID: "s9",
				Reasons:          []string{"not in manifest"},
				Before:           &Attributes{Name: "gone", RunOnce: ptr(false), IsEnabled: ptr(true), Body: ptr("g"), BodySHA256: state.BodyHash("g")},
				AffectedMachines: nil, // the live remote says it is on no machine
				Precondition:     Precondition{Exists: true, Fingerprint: rGone.Fingerprint()},
			},
			{
				// Live dialect: no notes.
				Key: "template/t", Kind: KindTemplate, Action: Replace, Name: "t", ID: "t1",
				Reasons:      []string{"machineId m1 → m2"},
				Before:       &Attributes{Name: "t", MachineID: "m1"},
				After:        &Attributes{Name: "t", MachineID: "m2"},
				Precondition: Precondition{Exists: true, Fingerprint: rT.Fingerprint()},
			},
			{
				Key: "assignment/b/m3", Kind: KindAssignment, Action: Assign, Name: "b", Machine: "m3",
				Reasons: []string{"new in manifest"}, DependsOn: []string{"script/b"},
			},
			{
				Key: "assignment/a/m1", Kind: KindAssignment, Action: Unassign, Name: "a", ID: "s1", Machine: "m1",
				Reasons:      []string{"machine removed from the manifest"},
				Precondition: Precondition{Exists: true, Fingerprint: rA.Fingerprint()},
			},
		},
		// The snapshot has no machine list.
		Notes: []string{"this API (paperspace-v1) cannot list machines: the machine ids of the manifest were not checked"},
		// The state says psync assigned gone to m7; the API says it is on
		// no machine now. Apply deletes it anyway.
		Drift: []Drift{
			{Key: "script/gone", Kind: KindScript, ID: "s9", Name: "gone", Attribute: "machines", LastApplied: "m7", Remote: "", Resolution: ResolutionDelete},
		},
		BodiesUnreadable: true,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	checkPlan(t, p, m, snap, st, Options{APIURL: "https://api.test/v1", Team: "team1"})
}

func TestComputeSensitive(t *testing.T) {
	const secret = "export TOKEN=hunter2"
	m := manifestOf([]manifest.Script{
		{Name: "new-secret", Body: secret, Sensitive: true, IsEnabled: true},
		{Name: "was-plain", Body: secret + "2", Sensitive: true, IsEnabled: true},
	}, nil)
	snap := specSnap([]remote.Script{rScript("s1", "was-plain")}, nil)
	st := stateOf([]state.Script{sScript("s1", "was-plain", "plain old body")}, nil)
	p, err := Compute(m, snap, st, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"hunter2", "plain old body"} {
		if strings.Contains(buf.String(), leak) {
			t.Errorf("saved plan contains %q:\n%s", leak, buf.String())
		}
	}
	// In memory the applier still has the new bodies.
	for _, c := range p.Changes {
		if c.After == nil || c.After.Body == nil || !c.After.Sensitive {
			t.Errorf("%s: after %+v, want the sensitive body in memory", c.Key, c.After)
		}
		if c.Before != nil && (c.Before.Body != nil || !c.Before.Sensitive) {
			t.Errorf("%s: before side shows a body of a now sensitive script", c.Key)
		}
	}

	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Changes[0].After.Body != nil {
		t.Fatal("read plan has a sensitive body")
	}
	if err := back.FillBodies(m, testKey); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("(-computed +refilled):\n%s", diff)
	}

	// The manifest changed since: the hash no longer matches.
	back, _ = Read(bytes.NewReader(mustWrite(t, p)))
	changed := manifestOf([]manifest.Script{{Name: "new-secret", Body: "other", Sensitive: true}}, nil)
	err = back.FillBodies(changed, testKey)
	want := "sensitive script \"new-secret\": the manifest's body is not the one planned: plan again\n" +
		"sensitive script \"was-plain\": not in the manifest, so its body is unknown: plan again"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func mustWrite(t *testing.T, p *Plan) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestComputeNilState(t *testing.T) {
	m := manifestOf([]manifest.Script{mScript("a", "x")}, nil)
	p, err := Compute(m, nil, nil, Options{APIURL: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if p.StateLineage != "" || p.StateSerial != 0 || len(p.Changes) != 1 || p.Changes[0].Action != Create {
		t.Errorf("plan %+v", p)
	}
	if _, err := Compute(nil, nil, nil, Options{}); err == nil {
		t.Error("no manifest: no error")
	}
}

func TestComputeEmptyPlanHasEmptyChanges(t *testing.T) {
	p, err := Compute(manifestOf(nil, nil), specSnap(nil, nil), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes == nil || !p.Empty() || p.Refused() {
		t.Errorf("empty plan: %+v", p)
	}
	if got := string(mustWrite(t, p)); !strings.Contains(got, `"changes": []`) {
		t.Errorf("empty plan JSON has no changes array:\n%s", got)
	}
}

func TestOrder(t *testing.T) {
	// Unassigns of a script come before its delete, creates before the
	// assigns that wait for them, whatever order they come in.
	in := []Change{
		{Key: "script/x", Kind: KindScript, Action: Delete, Name: "x", ID: "s1"},
		{Key: "assignment/x/m1", Kind: KindAssignment, Action: Unassign, Name: "x", ID: "s1", Machine: "m1"},
		{Key: "assignment/b/m1", Kind: KindAssignment, Action: Assign, Name: "b", Machine: "m1", DependsOn: []string{"script/b"}},
		{Key: "script/b", Kind: KindScript, Action: Create, Name: "b"},
		{Key: "template/a", Kind: KindTemplate, Action: Create, Name: "a"},
	}
	p := &planner{changes: in, keys: map[string]int{}, renamedFrom: map[string]string{}}
	p.disambiguateKeys()
	p.linkDependencies()
	got, err := order(p.changes)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range got {
		keys = append(keys, c.Key)
	}
	want := []string{"script/b", "template/a", "assignment/b/m1", "assignment/x/m1", "script/x"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"assignment/x/m1"}, got[4].DependsOn); diff != "" {
		t.Errorf("delete's dependencies (-want +got):\n%s", diff)
	}

	_, err = order([]Change{{Key: "a", DependsOn: []string{"b"}}, {Key: "b", DependsOn: []string{"a"}}})
	if err == nil || err.Error() != "plan: dependency cycle among a, b" {
		t.Errorf("cycle: %v", err)
	}
	_, err = order([]Change{{Key: "a", DependsOn: []string{"zz"}}})
	if err == nil || !strings.Contains(err.Error(), `depends on "zz", which is not in the plan`) {
		t.Errorf("missing dependency: %v", err)
	}
}

func TestRead(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not JSON", "nope", "not a saved plan: invalid character"},
		{"no version", `{"changes": []}`, "no formatVersion: this is not a saved psync plan"},
		{"newer", `{"formatVersion": 2}`, "format version 2 is newer than this psync understands (1): upgrade psync"},
		{"older", `{"formatVersion": 0}`, "unknown format version 0"},
		{"unknown field", `{"formatVersion": 1, "extra": 1}`, `not a saved plan: json: unknown field "extra"`},
		{"unknown action", `{"formatVersion": 1, "changes": [{"key": "a", "action": "explode"}]}`, `not a saved plan: unknown action "explode"`},
		{"no action", `{"formatVersion": 1, "changes": [{"key": "a"}]}`, `malformed plan: change "a" has no action`},
		{"duplicate key", `{"formatVersion": 1, "changes": [{"key": "a", "action": "create"}, {"key": "a", "action": "create"}]}`, `malformed plan: two changes have the key "a"`},
		{"dependency later", `{"formatVersion": 1, "changes": [{"key": "a", "action": "assign", "dependsOn": ["b"]}, {"key": "b", "action": "create"}]}`, `malformed plan: change "a" depends on "b", which does not come before it`},
		// A plan edited by hand must not show one thing and apply another:
		// show renders a change by its key, kind and name, apply acts on
		// its after side and machine.
		{"create of another name", `{"formatVersion": 1, "changes": [{"key": "script/a", "kind": "script", "name": "a", "action": "create", "after": {"name": "evil"}, "precondition": {"exists": false}}]}`, `malformed plan: change "script/a" shows script "a" but applies name "evil"`},
		{"update without after", `{"formatVersion": 1, "changes": [{"key": "script/a", "kind": "script", "name": "a", "action": "update", "precondition": {"exists": true}}]}`, `malformed plan: change "script/a" shows script "a" but applies name ""`},
		{"key of another object", `{"formatVersion": 1, "changes": [{"key": "script/a", "kind": "script", "name": "b", "action": "delete", "id": "s1", "precondition": {"exists": true}}]}`, `malformed plan: change "script/a" is of script "b"`},
		{"assignment of another machine", `{"formatVersion": 1, "changes": [{"key": "assignment/a/m1", "kind": "assignment", "name": "a", "machine": "m2", "action": "assign", "precondition": {"exists": false}}]}`, `malformed plan: change "assignment/a/m1" is of assignment "a" to "m2"`},
		{"unknown kind", `{"formatVersion": 1, "changes": [{"key": "machine/a", "kind": "machine", "name": "a", "action": "delete", "precondition": {"exists": true}}]}`, `malformed plan: change "machine/a" has the unknown kind "machine"`},
		{"assign of a script", `{"formatVersion": 1, "changes": [{"key": "script/a", "kind": "script", "name": "a", "action": "assign", "precondition": {"exists": true}}]}`, `malformed plan: change "script/a": a script cannot assign`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.in))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestTemplateRenameAndReplace(t *testing.T) {
	m := manifestOf(nil, []manifest.Template{{Name: "new", MachineID: "m2", PreviousNames: []string{"old"}}})
	snap := specSnap(nil, []remote.Template{rTemplate("t1", "old", "m1")})
	st := stateOf(nil, []state.Template{sTemplate("t1", "old", "m1")})
	p, err := Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{Key: "template/new", Action: Replace, ID: "t1", Exists: true, Reasons: []string{"renamed from old", "machineId m1 → m2"}}}
	if diff := cmp.Diff(want, rows(p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	checkPlan(t, p, m, snap, st, Options{})
}
