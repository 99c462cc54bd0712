package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/manifest"
	"github.com/psync-dev/psync/pkg/remote"
	"github.com/psync-dev/psync/pkg/state"
)

// fleet is the sandbox's seeded team: six A100 training boxes in ny2,
// two A4000 inference boxes in ams1, CPU notebooks.
func fleet() []remote.Machine {
	var ms []remote.Machine
	for i := 1; i <= 10; i++ {
		m := remote.Machine{ID: fmt.Sprintf("psbox%03d", i), State: "ready"}
		switch {
		case i <= 6:
			m.Name, m.MachineType, m.Region = fmt.Sprintf("train-a100-%d", i), "A100", "ny2"
		case i <= 8:
			m.Name, m.MachineType, m.Region = fmt.Sprintf("infer-%d", i-6), "A4000", "ams1"
		default:
			m.Name, m.MachineType, m.Region = fmt.Sprintf("notebook-%d", i-8), "C5", "ny2"
		}
		ms = append(ms, m)
	}
	return ms
}

// machineSnap is a live snapshot with a machine list.
func machineSnap(machines []remote.Machine, scripts ...remote.Script) *remote.Snapshot {
	s := liveSnap(scripts, nil)
	s.MachinesKnown, s.Machines = true, machines
	return s
}

func at(line, col int) manifest.Position {
	return manifest.Position{File: "psync.yaml", Line: line, Column: col}
}

// assignAt is an assignment by id whose machines were written on line 9.
func assignAt(script string, machines ...string) manifest.Assignment {
	a := mAssign(script, machines...)
	for i := range machines {
		a.MachinePos = append(a.MachinePos, at(9, 16+10*i))
	}
	return a
}

func selectors(script string, sel ...manifest.Selector) manifest.Assignment {
	for i := range sel {
		sel[i].Pos = at(12+i, 9)
	}
	return manifest.Assignment{Script: script, Select: sel}
}

func TestMachineIDsCheckedAtPlanTime(t *testing.T) {
	tmpl := mTemplate("base", "psbox0l1")
	tmpl.MachinePos = at(5, 16)
	cases := []struct {
		name     string
		m        *manifest.Manifest
		snap     *remote.Snapshot
		wantErrs []string
	}{{
		name: "typo of an id: the closest id is suggested",
		m:    manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, assignAt("cuda", "psbox001", "psbox099")),
		snap: machineSnap(fleet()),
		wantErrs: []string{
			`psync.yaml:9:26: machine psbox099 is not in the team; did you mean psbox009? (assignment of script "cuda")`,
		},
	}, {
		name: "a machine's name where its id goes",
		m:    manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, assignAt("cuda", "infer-1")),
		snap: machineSnap(fleet()),
		wantErrs: []string{
			`psync.yaml:9:16: machine infer-1 is not in the team; infer-1 is the name of machine psbox007: name it by its id (assignment of script "cuda")`,
		},
	}, {
		name: "nothing close: no suggestion; a template's source machine too",
		m:    manifestOf([]manifest.Script{mScript("cuda", "x")}, []manifest.Template{tmpl}, assignAt("cuda", "ps1a2b3x")),
		snap: machineSnap(fleet()),
		wantErrs: []string{
			`psync.yaml:5:16: machine psbox0l1 is not in the team; did you mean psbox001? (source machine of template "base")`,
			`psync.yaml:9:16: machine ps1a2b3x is not in the team (assignment of script "cuda")`,
		},
	}, {
		name: "a template made from a machine deleted since is no error",
		m:    manifestOf(nil, []manifest.Template{tmpl}),
		snap: func() *remote.Snapshot {
			s := machineSnap(fleet())
			s.Templates = []remote.Template{rTemplate("t1", "base", "psbox0l1")}
			return s
		}(),
	}, {
		name: "selectors on an API without a machine list: an error that says why",
		m:    manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{Name: "train-*"})),
		snap: specSnap(nil, nil),
		wantErrs: []string{
			`psync.yaml:12:9: select name=train-* of script "cuda" needs the team's machine list, which this API (spec) does not have: list the machine ids under machines instead`,
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compute(tc.m, tc.snap, nil, Options{})
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Compute: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compute planned %d changes, want errors %q", len(p.Changes), tc.wantErrs)
			}
			if diff := cmp.Diff(strings.Join(tc.wantErrs, "\n"), err.Error()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMachineNotesAndWarnings(t *testing.T) {
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, assignAt("cuda", "psbox001", "psbox002"))

	// The spec's API cannot list machines: said once, whatever the number of ids.
	p, err := Compute(m, specSnap(nil, nil), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"this API (spec) cannot list machines: the machine ids of the manifest were not checked"}, p.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}

	// A machine being deleted, or in a state psync does not know, is a
	// warning; the known states are not.
	ms := fleet()
	ms[0].State = remote.MachineDeleting
	ms[1].State = "failed"
	ms[2].State = "off"
	m.Assignments = append(m.Assignments, assignAt("cuda", "psbox003"))
	p, err = Compute(m, machineSnap(ms), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`psync.yaml:9:16: machine psbox001 (train-a100-1) is being deleted: assigning script "cuda" makes no sense there`,
		`psync.yaml:9:26: machine psbox002 (train-a100-2) is in state "failed": assigning script "cuda" makes no sense there`,
	}
	if diff := cmp.Diff(want, p.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if p.Notes != nil {
		t.Errorf("notes %q with a machine list, want none", p.Notes)
	}
}

// selected names the machines of a selection.
func selectedIDs(p *Plan) map[string][]string {
	out := map[string][]string{}
	for _, s := range p.Selections {
		for _, m := range s.Selectors {
			var ids []string
			for _, mc := range m.Machines {
				ids = append(ids, mc.ID)
			}
			out[s.Script+" "+m.Selector] = ids
		}
	}
	return out
}

// applySelections is what the applier records of a plan.
func applySelections(p *Plan, st *state.State) {
	for _, s := range p.Selections {
		if s.Record {
			s.Apply(st, s.ScriptID)
		}
	}
}

// TestSelectorsFollowTheFleet plans a selector over machines added,
// renamed and removed between plans, each plan against the state the
// previous one left.
func TestSelectorsFollowTheFleet(t *testing.T) {
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil,
		selectors("cuda", manifest.Selector{Name: "train-*"}, manifest.Selector{MachineType: "A4000", Region: "ams1"}))
	st := stateOf([]state.Script{sScript("s1", "cuda", "x")}, nil)
	machines := fleet()
	onScript := []string{}

	step := func(t *testing.T, wantRows []row, wantSel map[string][]string) {
		t.Helper()
		snap := machineSnap(machines, rScript("s1", "cuda", onScript...))
		p, err := Compute(m, snap, st, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, p, m, snap, st, Options{})
		if diff := cmp.Diff(wantRows, rows(p)); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantSel, selectedIDs(p)); diff != "" {
			t.Errorf("selections (-want +got):\n%s", diff)
		}
		if p.Refused() {
			t.Errorf("refused: %+v", p.Findings)
		}
		// Apply: the script's machines and the state follow the plan.
		for _, c := range p.Changes {
			switch c.Action {
			case Assign:
				onScript = append(onScript, c.Machine)
				st.AddAssignment("s1", c.Machine)
			case Unassign:
				onScript = remove(onScript, c.Machine)
				st.RemoveAssignment("s1", c.Machine)
			}
		}
		applySelections(p, st)
	}
	assign := func(mc, reason string) row {
		return row{Key: "assignment/cuda/" + mc, Action: Assign, ID: "s1", Reasons: []string{reason}, Exists: true}
	}
	unassign := func(mc, reason string) row {
		return row{Key: "assignment/cuda/" + mc, Action: Unassign, ID: "s1", Reasons: []string{reason}, Exists: true}
	}

	t.Run("first plan assigns every match", func(t *testing.T) {
		var want []row
		for _, id := range []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"} {
			want = append(want, assign(id, "matched by select name=train-*"))
		}
		want = append(want, assign("psbox007", "matched by select machineType=A4000,region=ams1"), assign("psbox008", "matched by select machineType=A4000,region=ams1"))
		step(t, want, map[string][]string{
			"cuda name=train-*":                  {"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"},
			"cuda machineType=A4000,region=ams1": {"psbox007", "psbox008"},
		})
	})
	t.Run("no change: nothing to do", func(t *testing.T) {
		step(t, nil, map[string][]string{
			"cuda name=train-*":                  {"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"},
			"cuda machineType=A4000,region=ams1": {"psbox007", "psbox008"},
		})
	})
	t.Run("a machine added, one renamed away, one removed", func(t *testing.T) {
		machines[1].Name = "retired-2"                   // psbox002 no longer matches train-*
		machines = append(machines[:2], machines[3:]...) // psbox003 deleted
		machines = append(machines, remote.Machine{ID: "psbox011", Name: "train-a100-7", MachineType: "A100", Region: "ny2", State: "provisioning"})
		onScript = remove(onScript, "psbox003") // the API drops a deleted machine's assignments
		step(t, []row{
			assign("psbox011", "matched by select name=train-*"),
			unassign("psbox002", "no longer matched by select name=train-*"),
		}, map[string][]string{
			"cuda name=train-*":                  {"psbox001", "psbox004", "psbox005", "psbox006", "psbox011"},
			"cuda machineType=A4000,region=ams1": {"psbox007", "psbox008"},
		})
	})
	t.Run("the state records what each selector matched", func(t *testing.T) {
		sc, _ := st.ScriptByID("s1")
		want := []state.Selector{
			{Selector: "machineType=A4000,region=ams1", Machines: []string{"psbox007", "psbox008"}},
			{Selector: "name=train-*", Machines: []string{"psbox001", "psbox004", "psbox005", "psbox006", "psbox011"}},
		}
		if diff := cmp.Diff(want, sc.Selectors); diff != "" {
			t.Errorf("state selectors (-want +got):\n%s", diff)
		}
	})
}

func remove(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// TestSelectorMatchingNothingIsRefused: a selector that matched machines
// at the last apply and matches none now is what a typo in a glob or a
// renamed fleet looks like.
func TestSelectorMatchingNothingIsRefused(t *testing.T) {
	trained := []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"}
	recorded := func() *state.State {
		sc := sScript("s1", "cuda", "x", trained...)
		sc.Selectors = []state.Selector{{Selector: "name=train-*", Machines: trained}}
		return stateOf([]state.Script{sc}, nil)
	}
	renamed := fleet()
	for i := range renamed[:6] {
		renamed[i].Name = fmt.Sprintf("gpu-train-%d", i+1)
	}
	cases := []struct {
		name     string
		sel      manifest.Selector
		machines []remote.Machine
		want     string // the finding's message; "" for none
	}{{
		name:     "the fleet was renamed",
		sel:      manifest.Selector{Name: "train-*"},
		machines: renamed,
		want:     `psync.yaml:12:9: select name=train-* of script "cuda" matched 6 machines at the last apply (psbox001, psbox002, psbox003, psbox004, psbox005, psbox006) and matches none now: a typo, or a renamed fleet? Fix the selector, or allow it`,
	}, {
		name:     "the glob was edited with a typo",
		sel:      manifest.Selector{Name: "trian-*"},
		machines: fleet(),
		want:     `psync.yaml:12:9: select name=trian-* of script "cuda" matches no machine, and replaces select name=train-*, which matched 6 machines at the last apply (psbox001, psbox002, psbox003, psbox004, psbox005, psbox006): a typo? Fix the selector, or allow it`,
	}, {
		name:     "still matching: fine",
		sel:      manifest.Selector{Name: "train-*"},
		machines: fleet(),
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", tc.sel))
			snap := machineSnap(tc.machines, rScript("s1", "cuda", trained...))
			p, err := Compute(m, snap, recorded(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if p.Refused() {
					t.Fatalf("refused: %+v", p.Findings)
				}
				return
			}
			if !p.Refused() {
				t.Fatalf("not refused; changes %+v", rows(p))
			}
			var keys []string
			for _, id := range trained {
				keys = append(keys, "assignment/cuda/"+id)
			}
			want := []Finding{{Rule: RuleSelectorMatchesNone, Keys: keys, Message: tc.want, Override: "--allow-mass-delete"}}
			if diff := cmp.Diff(want, p.Findings); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			p.Override(false, true)
			if p.Refused() {
				t.Error("still refused with --allow-mass-delete")
			}
		})
	}
}

// TestSelectorUnassignsCountTowardMaxDeletePercent: of a script's machines.
func TestSelectorUnassignsCountTowardMaxDeletePercent(t *testing.T) {
	var machines []remote.Machine
	var all []string
	for i := 1; i <= 12; i++ {
		id := fmt.Sprintf("psbox%03d", i)
		machines = append(machines, remote.Machine{ID: id, Name: fmt.Sprintf("train-%d", i), MachineType: "A100", Region: "ny2", State: "ready"})
		all = append(all, id)
	}
	sc := sScript("s1", "cuda", "x", all...)
	sc.Selectors = []state.Selector{{Selector: "machineType=A100", Machines: all}}
	// Four move to another region: 4 of 12 (33%) > 25%.
	for i := range machines[:4] {
		machines[i].MachineType = "H100"
	}
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{MachineType: "A100"}))
	p, err := Compute(m, machineSnap(machines, rScript("s1", "cuda", all...)), stateOf([]state.Script{sc}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{
		Rule:     RuleMaxDeletePercent,
		Keys:     []string{"assignment/cuda/psbox001", "assignment/cuda/psbox002", "assignment/cuda/psbox003", "assignment/cuda/psbox004"},
		Message:  `the plan unassigns 4 of the 12 machines of script "cuda" because its selectors no longer match them (33%), more than maxDeletePercent (25%): check the selectors`,
		Override: "--allow-mass-delete",
	}}
	if diff := cmp.Diff(want, p.Findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// TestSelectionsRecordedAndForgotten: the applier records a selection
// that differs from the state, and forgets one the manifest dropped.
func TestSelectionsRecordedAndForgotten(t *testing.T) {
	sc := sScript("s1", "cuda", "x", "psbox007", "psbox008")
	sc.Selectors = []state.Selector{{Selector: "region=ams1", Machines: []string{"psbox007", "psbox008"}}}
	st := stateOf([]state.Script{sc}, nil)
	snap := machineSnap(fleet(), rScript("s1", "cuda", "psbox007", "psbox008"))

	// Same selector, same machines: nothing to record.
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{Region: "ams1"}))
	p, err := Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.RecordsSelections() {
		t.Fatalf("changes %+v, records selections %t; want none", rows(p), p.RecordsSelections())
	}

	// The selector replaced by ids of the same machines: no change, but
	// the state must forget the selector.
	m = manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, assignAt("cuda", "psbox007", "psbox008"))
	p, err = Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || !p.RecordsSelections() {
		t.Fatalf("changes %+v, records selections %t; want no change and a selection to forget", rows(p), p.RecordsSelections())
	}
	applySelections(p, st)
	if got, _ := st.ScriptByID("s1"); got.Selectors != nil {
		t.Errorf("state selectors %+v after the manifest dropped them, want none", got.Selectors)
	}
	p, err = Compute(m, snap, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.RecordsSelections() {
		t.Error("the next plan records selections again")
	}
}

// Drift is judged against what the selectors match, and a machine deleted
// from the team is no change made to a script.
func TestSelectorsAndDrift(t *testing.T) {
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{Name: "train-a100-[12]"}))
	sc := sScript("s1", "cuda", "x", "psbox001", "psbox003")
	sc.Selectors = []state.Selector{{Selector: "name=train-a100-[12]", Machines: []string{"psbox001"}}}
	st := stateOf([]state.Script{sc}, nil)
	machines := fleet()
	machines = append(machines[:2], machines[3:]...) // psbox003 deleted, its assignment with it
	// psbox002 assigned in the console: the manifest's selector agrees.
	p, err := Compute(m, machineSnap(machines, rScript("s1", "cuda", "psbox001", "psbox002")), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("changes %+v, want none", rows(p))
	}
	want := []Drift{{Key: "script/cuda", Kind: KindScript, ID: "s1", Name: "cuda", Attribute: "machines",
		LastApplied: "psbox001", Remote: "psbox001, psbox002", Resolution: ResolutionKeep}}
	if diff := cmp.Diff(want, p.Drift); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
}

// A selector dropped from the manifest unassigns what it matched, saying
// so; those unassigns are the selectors' (maxDeletePercent counts them),
// but dropping a selector on purpose is no selector matching nothing.
func TestSelectorRemovedFromManifest(t *testing.T) {
	sc := sScript("s1", "cuda", "x", "psbox007", "psbox008", "psbox010")
	sc.Selectors = []state.Selector{{Selector: "region=ams1", Machines: []string{"psbox007", "psbox008"}}}
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, assignAt("cuda", "psbox010"))
	p, err := Compute(m, machineSnap(fleet(), rScript("s1", "cuda", "psbox007", "psbox008", "psbox010")), stateOf([]state.Script{sc}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	unassign := func(mc string) row {
		return row{Key: "assignment/cuda/" + mc, Action: Unassign, ID: "s1", Reasons: []string{"select region=ams1 is no longer in the manifest"}, Exists: true}
	}
	if diff := cmp.Diff([]row{unassign("psbox007"), unassign("psbox008")}, rows(p)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if p.Refused() {
		t.Errorf("refused: %+v", p.Findings)
	}
	if !p.RecordsSelections() {
		t.Error("the state's record of the dropped selector is not forgotten")
	}
}

// A selector whose machines were all deleted from the team matches none
// now, but nothing is unassigned (the API dropped their assignments with
// them): that is a decommissioned fleet, not a typo, and refusing it would
// hold every scheduled apply until someone passed --allow-mass-delete.
// One machine of them still in the team under another name is refused.
func TestSelectorOfADeletedFleetIsNoFinding(t *testing.T) {
	trained := []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"}
	sc := sScript("s1", "cuda", "x", trained...)
	sc.Selectors = []state.Selector{{Selector: "name=train-*", Machines: trained}}
	for _, sel := range []manifest.Selector{{Name: "train-*"}, {Name: "trian-*"}} {
		t.Run(sel.String(), func(t *testing.T) {
			m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", sel))
			gone := fleet()[6:]
			p, err := Compute(m, machineSnap(gone, rScript("s1", "cuda")), stateOf([]state.Script{sc}, nil), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Refused() || len(p.Findings) > 0 {
				t.Errorf("findings %+v for a fleet deleted from the team, want none", p.Findings)
			}
			if !p.Empty() {
				t.Errorf("changes %+v, want none", rows(p))
			}

			// One of them renamed rather than deleted: it would be unassigned.
			renamed := append([]remote.Machine{{ID: "psbox003", Name: "gpu-3", MachineType: "A100", Region: "ny2", State: "ready"}}, gone...)
			p, err = Compute(m, machineSnap(renamed, rScript("s1", "cuda", "psbox003")), stateOf([]state.Script{sc}, nil), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Refused() {
				t.Errorf("not refused with psbox003 renamed away; findings %+v", p.Findings)
			}
		})
	}
}

// A selector over a fleet in a state psync does not know warns of the
// first few machines and counts the rest in one more warning, rather
// than one warning per machine (a plan comment of hundreds).
func TestSelectorWarningsOfOddStatesCapped(t *testing.T) {
	var ms []remote.Machine
	for i := 1; i <= 30; i++ {
		ms = append(ms, remote.Machine{ID: fmt.Sprintf("psbox%03d", i), Name: fmt.Sprintf("train-%d", i), MachineType: "A100", Region: "ny2", State: "failed"})
	}
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{Name: "train-*"}))
	p, err := Compute(m, machineSnap(ms, rScript("s1", "cuda")), stateOf([]state.Script{sScript("s1", "cuda", "x")}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != maxStateWarnings+1 {
		t.Fatalf("%d warnings, want %d:\n%s", len(p.Warnings), maxStateWarnings+1, strings.Join(p.Warnings, "\n"))
	}
	if want := `psync.yaml:12:9: machine psbox001 (train-1), which select name=train-* of script "cuda" matches, is in state "failed": assigning it may make no sense`; p.Warnings[0] != want {
		t.Errorf("first warning %q, want %q", p.Warnings[0], want)
	}
	if want := fmt.Sprintf(`psync.yaml:12:9: %d more machines that select name=train-* of script "cuda" matches are in a state where assigning them may make no sense (besides the %d named above)`, 30-maxStateWarnings, maxStateWarnings); p.Warnings[maxStateWarnings] != want {
		t.Errorf("last warning %q, want %q", p.Warnings[maxStateWarnings], want)
	}
}

// The selector rule cannot be dodged by renaming the script (previousNames
// finds its record by id), nor fires where nothing was recorded (a fresh
// state) or for a selector added beside one still matching; --target of
// another script leaves it out, and --target of the script judges it.
func TestSelectorRuleRenamedTargetedAndFresh(t *testing.T) {
	trained := []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"}
	recorded := func() *state.State {
		sc := sScript("s1", "cuda", "x", trained...)
		sc.Selectors = []state.Selector{{Selector: "name=train-*", Machines: trained}}
		return stateOf([]state.Script{sc, sScript("s2", "other", "y")}, nil)
	}
	renamed := fleet()
	for i := range renamed[:6] {
		renamed[i].Name = fmt.Sprintf("gpu-train-%d", i+1)
	}
	scripts := func(cuda string) []manifest.Script {
		c := mScript(cuda, "x")
		if cuda != "cuda" {
			c.PreviousNames = []string{"cuda"}
		}
		return []manifest.Script{c, mScript("other", "y2")}
	}
	snap := func() *remote.Snapshot {
		return machineSnap(renamed, rScript("s1", "cuda", trained...), rScript("s2", "other"))
	}
	cases := []struct {
		name    string
		m       *manifest.Manifest
		st      *state.State
		targets []string
		refused bool
	}{
		{"renamed script", manifestOf(scripts("cuda-v2"), nil, selectors("cuda-v2", manifest.Selector{Name: "train-*"})), recorded(), nil, true},
		{"fresh state", manifestOf(scripts("cuda"), nil, selectors("cuda", manifest.Selector{Name: "train-*"})), nil, nil, false},
		{"a selector's machines renamed, all still wanted by another", manifestOf(scripts("cuda"), nil, selectors("cuda", manifest.Selector{Name: "train-*"}, manifest.Selector{MachineType: "A100"})), recorded(), nil, false},
		{"new selector beside a matching one", manifestOf(scripts("cuda"), nil, selectors("cuda", manifest.Selector{Name: "gpu-train-*"}, manifest.Selector{Name: "nothing-*"})), recorded(), nil, false},
		{"--target another script", manifestOf(scripts("cuda"), nil, selectors("cuda", manifest.Selector{Name: "train-*"})), recorded(), []string{"script/other"}, false},
		{"--target the script", manifestOf(scripts("cuda"), nil, selectors("cuda", manifest.Selector{Name: "train-*"})), recorded(), []string{"script/cuda"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compute(tc.m, snap(), tc.st, Options{Targets: tc.targets})
			if err != nil {
				t.Fatal(err)
			}
			if p.Refused() != tc.refused {
				t.Errorf("refused %t, want %t; findings %+v", p.Refused(), tc.refused, p.Findings)
			}
		})
	}
}

// A machine the API lists as being deleted (dtDeleted) that a script is
// still on is left alone: selectors skip it, yet unassigning a machine on
// its way out would only fail, and its assignments go with it.
func TestMachineBeingDeletedIsNotUnassigned(t *testing.T) {
	trained := []string{"psbox001", "psbox002", "psbox003", "psbox004", "psbox005", "psbox006"}
	sc := sScript("s1", "cuda", "x", trained...)
	sc.Selectors = []state.Selector{{Selector: "name=train-*", Machines: trained}}
	ms := fleet()
	ms[0].State = remote.MachineDeleting
	m := manifestOf([]manifest.Script{mScript("cuda", "x")}, nil, selectors("cuda", manifest.Selector{Name: "train-*"}))
	p, err := Compute(m, machineSnap(ms, rScript("s1", "cuda", trained...)), stateOf([]state.Script{sc}, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.Refused() {
		t.Errorf("changes %+v, findings %+v; want none", rows(p), p.Findings)
	}
}
