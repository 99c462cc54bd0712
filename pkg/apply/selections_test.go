package apply_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/psync-dev/psync/pkg/apply"
	"github.com/psync-dev/psync/pkg/plan"
	"github.com/psync-dev/psync/pkg/state"
)

// The applier records what the selectors matched, for the next plan's
// safety rule: for a script that exists, for one this run created (by the
// id its create produced), not for one whose create failed; and it
// forgets the record of a script whose selectors left the manifest.
func TestRunRecordsSelections(t *testing.T) {
	f := newFakeAPI()
	f.seedScript("scr-old", "old", "psbox007")
	f.Fail = map[string]error{"script/broken": errors.New("500 boom")}
	st := &state.State{Lineage: "L", Serial: 1, Scripts: []state.Script{
		{ID: "scr-old", Name: "old", IsEnabled: true, Assignments: []string{"psbox007"},
			Selectors: []state.Selector{{Selector: "region=ams1", Machines: []string{"psbox007"}}}},
		{ID: "scr-kept", Name: "kept", IsEnabled: true},
	}}
	f.seedScript("scr-kept", "kept")
	match := func(sel string, ids ...string) plan.SelectorMatch {
		m := plan.SelectorMatch{Selector: sel}
		for _, id := range ids {
			m.Machines = append(m.Machines, plan.SelectedMachine{ID: id})
		}
		return m
	}
	p := newPlan(createScript("new"), createScript("broken"))
	p.Selections = []plan.ScriptSelection{
		{Script: "broken", Selectors: []plan.SelectorMatch{match("name=x-*", "psbox001")}, Record: true},
		{Script: "kept", ScriptID: "scr-kept", Selectors: []plan.SelectorMatch{match("machineType=A100", "psbox002", "psbox001")}, Record: true},
		{Script: "new", Selectors: []plan.SelectorMatch{match("name=train-*", "psbox003")}, Record: true},
		{Script: "old", ScriptID: "scr-old", Selectors: []plan.SelectorMatch{}, Record: true},
	}
	j := newMemJournal(st)
	report, err := apply.Run(context.Background(), p, f, j, apply.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if report.OK() {
		t.Fatal("the broken create did not fail")
	}
	got := map[string][]state.Selector{}
	for _, sc := range j.state.Scripts {
		got[sc.Name] = sc.Selectors
	}
	want := map[string][]state.Selector{
		"kept": {{Selector: "machineType=A100", Machines: []string{"psbox001", "psbox002"}}},
		"new":  {{Selector: "name=train-*", Machines: []string{"psbox003"}}},
		"old":  nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selectors in the state (-want +got):\n%s", diff)
	}
}
